import type { User } from '../host';

export const ALICE: User = { name: 'alice', uid: '1001', home: '/home/alice' };
export const BOB: User = { name: 'bob', uid: '1002', home: '/home/bob' };
export const BACKUP: User = { name: 'svc-backup', uid: '998', home: '/var/lib/svc-backup' };

/** the demo host's users table, as the emulated osqueryd serves it */
export const DEMO_USERS = [
  { uid: '0', username: 'root' },
  { uid: ALICE.uid, username: ALICE.name },
  { uid: BOB.uid, username: BOB.name },
  { uid: BACKUP.uid, username: BACKUP.name },
];
