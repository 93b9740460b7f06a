import { argumentsAreBehaviour, scriptArgument } from '../features/lineage';
import { IN_PACKAGE_RUN, NO_LOGIN, type BehaviourEvent } from '../types';

// What an event of an OS package manager's run counts for (rarity.ts, "A package manager's
// run"): the maintainer scripts, triggers and helpers a package ships are the packages' doing,
// so their values (which script, which helper, which parent, their pairs) count half, and their
// classes (where a program lives, where its paths point, privilege, network) in full.
//
// An unattended run is the host's own change path. When no login is behind the run (NO_LOGIN:
// the kernel's login uid is unset all the way up, as for what systemd, cron's root jobs and a
// configuration agent start; no user can unset theirs), no one chose its packages at a shell:
// the OS's automatic upgrades or the configuration agent did, from the repositories the host is
// configured with. Such a run's first time on a host is its routine's first time, and it is a
// burst: a kernel upgrade is a dozen programs, parents and command lines never seen under root
// (dpkg, the image's postinst, run-parts, depmod, update-initramfs, grub), a configuration
// agent's first install another (adduser, deb-systemd-helper, systemctl). Counted half, each
// was still bad on a root whose own model never saw a new value (the third held-out set's
// kernel upgrade and node exporter install, 15 to 18 rows below 0.3 per seed), and the SVM,
// which cannot tell a value from a class, put every one of them outside its learned shape. So
// in an unattended run the values and the command line's text count a quarter, and the SVM
// gives no evidence (rarity's classes stand for it). What stays judged in full: where the run
// starts (the package manager's own row: who started it and how), a shell or interpreter given
// code in the run (`sh -c`: someone's text, not a package's file), every class never seen, and
// every row that leaves the run (its connections, its files, the services it starts and what
// they do). A run a person started (`sudo apt install …`, `sudo dpkg -i ~/Downloads/x.deb`: a
// login is behind it) is that person's choice of package and keeps the half.

/** what the bits of values count for in an event of a package manager's run, shell code aside */
const PACKAGE_RUN_VALUE_WEIGHT = 0.5;
/** what they count for, and the command line's text too, when no login is behind the run */
const UNATTENDED_RUN_WEIGHT = 0.25;

/**
 * Whether the event is of a package manager's run (IN_PACKAGE_RUN) and runs what a package
 * ships. A shell or an interpreter given code on its command line (`sh -c …`), or none (an
 * interactive shell, as a pager's `!sh` below `apt-get changelog` is), runs what someone typed.
 */
export function packagesDoing(event: BehaviourEvent): boolean {
  if (!event.values.includes(IN_PACKAGE_RUN)) return false;
  const value = (field: string) => event.values.find((v) => v.startsWith(field));
  const exe = value('exe=');
  const cmd = value('cmd=')?.slice(4) ?? '';
  if (exe === undefined || !argumentsAreBehaviour(exe.slice(4), cmd)) return true;
  // a maintainer script is run by its interpreter as a file: `sh /var/lib/dpkg/info/x.postinst
  // configure`, `sh -e …` where its shebang has an option (review13: the option hid the file)
  const script = scriptArgument(exe.slice(4), cmd);
  return script !== undefined && script.startsWith('/');
}

/** whether the event is the packages' doing in a run no login is behind (see the top of this file) */
export function unattendedPackageRun(event: BehaviourEvent): boolean {
  return event.values.includes(NO_LOGIN) && packagesDoing(event);
}

/** what the evidence of the event's values counts for: 1 outside a run's packages' doing */
export function packageRunWeight(event: BehaviourEvent): number {
  if (!packagesDoing(event)) return 1;
  return event.values.includes(NO_LOGIN) ? UNATTENDED_RUN_WEIGHT : PACKAGE_RUN_VALUE_WEIGHT;
}
