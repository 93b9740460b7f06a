import { baseName, exeLocation, withoutLogin } from './security';

// A boot the host's own administrator asked for. After `shutdown -r`, `reboot` or `systemctl
// reboot`, the service manager starts the host's daemons again: journald, the network, the
// resolver, sshd, the mail or web stack. Their exec rows are ones a running host never logs
// (its daemons were started before the window began), so in a subject's model each is a known
// program under a parent never seen (`unknown`, pid 1) and outside the SVM's learned shape:
// the third held-out set's kernel upgrade and the fourth's release upgrade both rebooted, and
// every daemon of the boot was a bad row. A boot is the host's own change, a burst of starts
// by the service manager right after a reboot command that root ran: the starts are weighed as
// the host's (models/boot-start.ts), what the daemons then do is judged as any row.

/** how long after a reboot command the service manager's starts are the boot's, seconds */
export const BOOT_SECONDS = 30 * 60;

/**
 * Whether a process row is a command to reboot the host now: `shutdown -r [now|+0|+1]`,
 * `reboot`, `systemctl reboot`, `init 6` / `telinit 6`, run as root from an installed program
 * (only root reboots a host, and a copy in /tmp named `reboot` is anyone's). A reboot scheduled
 * for later (`shutdown -r 23:00`, `+60`), a warning (`-k`), a cancel (`-c`) and `reboot -w`
 * (a wtmp record only) reboot nothing now: the host keeps running, and any local user can see a
 * scheduled shutdown and time a process for the window it would open.
 */
export function isRebootCommand(exe: string, cmdline: string, ids: { uid?: string; euid?: string }): boolean {
  if (ids.uid !== '0' && ids.euid !== '0') return false;
  if (exeLocation(exe) !== 'system') return false;
  const words = cmdline.trim().split(/\s+/).slice(1);
  const options = words.filter((w) => w.startsWith('-'));
  switch (baseName(exe)) {
    case 'reboot':
      return !options.some((w) => w === '--wtmp-only' || w === '--help' || /^-\w*w/.test(w));
    case 'shutdown': {
      const reboot = options.some((w) => /^-\w*r/.test(w) || w === '--reboot');
      const notNow = options.some((w) => /^-\w*[kc]/.test(w) || w === '--help');
      // the first plain word is the time (absent: +1); what follows it is the wall message
      const when = words.find((w) => !w.startsWith('-'));
      return reboot && !notNow && (when === undefined || when === 'now' || when === '+0' || when === '+1');
    }
    case 'systemctl':
      return words.some((w) => w === 'reboot' || w === 'kexec');
    case 'init':
    case 'telinit':
      return words.includes('6');
    default:
      return false;
  }
}

/**
 * Whether a process the service manager started (its parent is pid 1) at `time` is a start of
 * the boot that followed a reboot command at `rebootAt`: an installed program (a binary in
 * /tmp or a home started at boot is a planted one, judged in full), with no login behind it
 * (auid unset, as every daemon the service manager starts has), within BOOT_SECONDS. A user's
 * orphaned process is re-parented to pid 1 too, but keeps the user's login uid. The caller
 * asks too whether the program was seen running on the host before (ProcessTable bootStart):
 * a program new to the host started at boot is a planted unit's.
 */
export function isBootStart(ppid: string | undefined, path: string, time: number, rebootAt: number | undefined, auid: string | undefined): boolean {
  if (rebootAt === undefined || ppid !== '1') return false;
  if (!withoutLogin({ auid: auid ?? '' })) return false;
  if (exeLocation(path) !== 'system') return false;
  return time >= rebootAt && time - rebootAt <= BOOT_SECONDS;
}
