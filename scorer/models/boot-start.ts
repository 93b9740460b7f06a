import { AT_BOOT, type BehaviourEvent } from '../types';

// What a start of the boot that followed root's reboot command counts for (features/boot.ts).
// A program seen running on the host before (a process's, a socket's: the extractor marks only
// those), started by the service manager in that boot (journald, sshd, the mail stack), is the
// host's own daemon coming back: its values (the parent `unknown`, the pairs with it)
// and its command line's text count a quarter, as an unattended package run's do
// (package-run.ts), and the SVM, whose shape never held a boot, gives no evidence. What stays
// judged in full: a program the host was never seen running (a unit planted to start at boot), every
// class never seen (a binary in /tmp, a hidden name), and everything the daemons do after they
// start (their connections, their children, their files).

/** what the bits of a boot's start's values and its command line's text count for */
export const BOOT_START_WEIGHT = 0.25;

/** whether the event is a start of the boot after root's reboot command */
export function bootStart(event: BehaviourEvent): boolean {
  return event.values.includes(AT_BOOT);
}
