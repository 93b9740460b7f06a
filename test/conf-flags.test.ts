import * as fs from 'fs';
import * as path from 'path';
import t from 'tap';
import { ROOT } from './helpers/paths';

// Flags as osquery reads them: a flagfile holds one --flag=value per line and no trailing
// comments; CLI-only flags are ignored in a config's "options" (plugins/config/parsers/options.cpp).

/** osquery's CLI_FLAGs (checked in osquery's sources) among those a deployment of this extension might set */
const CLI_ONLY = [
  'logger_plugin',
  'config_plugin',
  'flagfile',
  'extensions_autoload',
  'extensions_socket',
  'extensions_timeout',
  'extensions_interval',
  'extensions_require',
  'disable_extensions',
  'config_path',
  'database_path',
  'pidfile',
];

t.test("the README's flag snippet pastes into a flagfile and matches conf/osquery.flags", async (t) => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const snippet = /flags that matter[\s\S]*?\n```\n([\s\S]*?)\n```/.exec(readme)?.[1];
  t.ok(snippet, 'the README shows the flags');
  const flagfile = new Set(fs.readFileSync(path.join(ROOT, 'conf', 'osquery.flags'), 'utf8').split('\n'));
  for (const line of snippet!.split('\n')) {
    t.match(line, /^--\w+=\S+$/, `one flag per line, no comment: ${line}`);
    t.ok(flagfile.has(line), `${line} is in conf/osquery.flags`);
  }
});

t.test('no example config sets a CLI-only flag in its options', async (t) => {
  for (const f of fs.readdirSync(path.join(ROOT, 'conf')).filter((f) => f.endsWith('.conf'))) {
    const options = JSON.parse(fs.readFileSync(path.join(ROOT, 'conf', f), 'utf8')).options ?? {};
    for (const k of Object.keys(options)) t.notOk(CLI_ONLY.includes(k), `${f}: options.${k} is not a CLI-only flag`);
  }
  const kafka = fs.readFileSync(path.join(ROOT, 'conf', 'kafka-routing.example.flags'), 'utf8').split('\n');
  t.ok(kafka.includes('--logger_plugin=filesystem,anomaly,kafka_producer'), 'the Kafka example routes through a flagfile');
});

// osquery installs the audit rules that feed process_events and socket_events only with
// --audit_allow_config=true (auditdnetlink.cpp, acquireHandle: without it the handle is
// "ActiveImmutable" and configureAuditService never runs), so with auditd stopped, as the
// flags file asks, those tables stay empty. The README's snippet is what a Fleet or Kolide
// flagfile gets pasted from.
t.test('the flags without which the pack has no events are in the flags file and the README snippet', async (t) => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const snippet = new Set(/flags that matter[\s\S]*?\n```\n([\s\S]*?)\n```/.exec(readme)![1].split('\n'));
  const flagfile = new Set(fs.readFileSync(path.join(ROOT, 'conf', 'osquery.flags'), 'utf8').split('\n'));
  for (const flag of ['--disable_audit=false', '--audit_allow_config=true', '--audit_allow_sockets=true', '--enable_file_events=true']) {
    t.ok(flagfile.has(flag), `conf/osquery.flags: ${flag}`);
    t.ok(snippet.has(flag), `README snippet: ${flag}`);
  }
  // osquery's defaults that the pack relies on, not turned off
  for (const off of ['--audit_allow_process_events=false', '--disable_events=true']) t.notOk(flagfile.has(off) || snippet.has(off), `not set: ${off}`);
});

/**
 * The flags the example flagfiles and configs set, each with the file of osquery's sources
 * (osquery/osquery, 5.x) that defines it: a misspelt flag in a flagfile stops osqueryd at start
 * ("Unrecognized flag"), one in a config's options is dropped with a warning. A flag added to
 * the examples is checked against osquery's sources and added here.
 */
const OSQUERY_FLAGS: Record<string, string> = {
  logger_plugin: 'osquery/logger/logger.cpp',
  logger_event_type: 'osquery/logger/logger.cpp',
  extensions_autoload: 'osquery/extensions/extensions.cpp',
  extensions_require: 'osquery/extensions/extensions.cpp',
  extensions_timeout: 'osquery/extensions/extensions.cpp',
  extensions_interval: 'osquery/extensions/extensions.cpp',
  disable_audit: 'osquery/events/audit_flags.cpp',
  audit_allow_config: 'osquery/events/audit_flags.cpp',
  audit_allow_process_events: 'osquery/events/audit_flags.cpp',
  audit_allow_sockets: 'osquery/events/audit_flags.cpp',
  audit_allow_user_events: 'osquery/events/audit_flags.cpp',
  audit_persist: 'osquery/events/linux/auditdnetlink.cpp',
  enable_file_events: 'osquery/events/file_events_flags.cpp',
  events_expiry: 'osquery/events/eventsubscriberplugin.cpp',
  events_max: 'osquery/events/eventsubscriberplugin.cpp',
  host_identifier: 'osquery/core/system.cpp',
  config_path: 'plugins/config/filesystem_config.cpp',
  schedule_splay_percent: 'osquery/config/packs.cpp',
  logger_kafka_brokers: 'plugins/logger/kafka_producer.cpp',
  logger_kafka_topic: 'plugins/logger/kafka_producer.cpp',
  logger_kafka_acks: 'plugins/logger/kafka_producer.cpp',
  logger_kafka_compression: 'plugins/logger/kafka_producer.cpp',
};

t.test("every flag the example flagfiles and configs set is one of osquery's, as osquery spells it", async (t) => {
  const conf = path.join(ROOT, 'conf');
  for (const f of fs.readdirSync(conf).filter((f) => f.endsWith('.flags'))) {
    for (const line of fs.readFileSync(path.join(conf, f), 'utf8').split('\n')) {
      if (!line.trim() || line.startsWith('#')) continue;
      const name = /^--(\w+)=/.exec(line)?.[1];
      t.ok(name && name in OSQUERY_FLAGS, `${f}: ${line} is an osquery flag`);
    }
  }
  for (const f of fs.readdirSync(conf).filter((f) => f.endsWith('.conf'))) {
    const options = JSON.parse(fs.readFileSync(path.join(conf, f), 'utf8')).options ?? {};
    for (const k of Object.keys(options)) t.ok(k in OSQUERY_FLAGS, `${f}: options.${k} is an osquery flag`);
  }
});
