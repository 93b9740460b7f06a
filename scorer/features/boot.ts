import { baseName, exeLocation } from './security';

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
 * Whether a process row is a command to reboot the host: `shutdown -r …`, `reboot`, `systemctl
 * reboot`, `init 6` / `telinit 6`, run as root from an installed program (only root reboots a
 * host, and a copy in /tmp named `reboot` is anyone's).
 */
export function isRebootCommand(exe: string, cmdline: string, ids: { uid?: string; euid?: string }): boolean {
  if (ids.uid !== '0' && ids.euid !== '0') return false;
  if (exeLocation(exe) !== 'system') return false;
  const words = cmdline.trim().split(/\s+/).slice(1);
  switch (baseName(exe)) {
    case 'reboot':
      return true;
    case 'shutdown':
      return words.some((w) => /^-\w*r/.test(w) || w === '--reboot');
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
 * /tmp or a home started at boot is a planted one, judged in full) within BOOT_SECONDS. The
 * caller asks too whether the program was seen running on the host before (ProcessTable
 * bootStart): a program new to the host started at boot is a planted unit's.
 */
export function isBootStart(ppid: string | undefined, path: string, time: number, rebootAt: number | undefined): boolean {
  if (rebootAt === undefined || ppid !== '1') return false;
  if (exeLocation(path) !== 'system') return false;
  return time >= rebootAt && time - rebootAt <= BOOT_SECONDS;
}
