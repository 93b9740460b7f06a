// The accounts the extension's host knows, as osqueryd's `users` table lists them (the local
// passwd database), for ranking the subjects of an answer that has no room for all of them
// (state/answer-share.ts). Which subjects these are is not a local user's to choose: a name
// enters the table only as an account root made (useradd, a passwd entry), while the
// subjects a user can make by the tens of thousands (a rootless container's subuids, the
// owners of its files) are uids the table does not list, `uid:N`. A subject's name comes
// from the row (scorer/features/subject.ts), and the `user` of a login row from utmp, which
// only root, the utmp group, or libutempter (the caller's own name) writes; whatever the row
// says, a name outside the table is not in it.

/** the answer to `SELECT uid, username FROM users` */
export interface UserRow {
  uid: string;
  username: string;
}

export class HostAccounts {
  private known: ReadonlySet<string> = new Set();

  /**
   * the table as the extension last read it (every `usersRefreshSeconds`); a subject the
   * scorer named `uid:N` before it knew N (an account made since the last read) is the
   * account too
   */
  update(rows: readonly UserRow[]): void {
    const next = new Set<string>();
    for (const r of rows) {
      if (r.username) next.add(r.username);
      if (/^\d+$/.test(r.uid)) next.add(`uid:${r.uid}`);
    }
    this.known = next;
  }

  /** `subject` (a row's subject as the scorer wrote it) is an account the host lists */
  has(subject: string): boolean {
    return this.known.has(subject);
  }
}
