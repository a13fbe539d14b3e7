import { parseArgs } from 'node:util';
import { UsageError } from '../errors.js';

type OptionSpec = { type: 'string' | 'boolean'; short?: string; help: string; arg?: string };

const COMMON: Record<string, OptionSpec> = {
  answers: { type: 'string', arg: 'FILE', help: 'answers file (INI); `kerio-dcc answers` prints a template' },
  root: { type: 'string', arg: 'DIR', help: "work on an image: DIR stands for the server's C:\\ drive" },
  simulate: {
    type: 'boolean',
    help: 'answer the Windows tools (sc, netsh, net, reg, icacls, schtasks, eventcreate, PowerShell) from a simulated system (state in C:\\ProgramData\\kerio-dcc\\simulated-system.json, inside the image with --root); files are real, and so is dccproc except on an image',
  },
  json: { type: 'boolean', help: 'print one JSON object on stdout (schema 1); logs go to stderr' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
  log: { type: 'string', arg: 'FILE', help: "also append this run's line of the run log to FILE" },
};
const CHANGING: Record<string, OptionSpec> = {
  yes: { type: 'boolean', short: 'y', help: 'do not ask; apply the plan (required without a terminal)' },
  'dry-run': { type: 'boolean', short: 'n', help: 'show the plan with diffs; change nothing, run no changing command' },
  restart: { type: 'boolean', help: 'restart the Kerio service even if nothing it reads changed' },
};

export interface CommandSpec {
  summary: string;
  usage: string;
  options: Record<string, OptionSpec>;
  positionals: number;
}

export const COMMANDS: Record<string, CommandSpec> = {
  install: {
    summary: 'turn DCC on (backup, profile folder, map, local.cf, v310.pre, firewall, service)',
    usage: 'kerio-dcc install [--answers FILE] [--yes] [--dry-run] [--json] [--root DIR [--simulate]]',
    options: {
      ...COMMON,
      ...CHANGING,
      'save-answers': { type: 'string', arg: 'FILE', help: 'save the answers used, to replay the same run unattended' },
      force: { type: 'boolean', help: '[dcc] client = bundled: replace a DCC map or program that is there (backed up first)' },
    },
    positionals: 0,
  },
  uninstall: {
    summary: 'take DCC out again (backed up first, so it can be rolled back)',
    usage: 'kerio-dcc uninstall [--answers FILE] [--yes] [--dry-run] [--json] [--root DIR [--simulate]]',
    options: { ...COMMON, ...CHANGING },
    positionals: 0,
  },
  rollback: {
    summary: 'undo a run exactly, from its backup (default: the newest)',
    usage: 'kerio-dcc rollback [ID] [--answers FILE] [--yes] [--dry-run] [--force] [--json] [--root DIR [--simulate]]',
    options: {
      ...COMMON,
      ...CHANGING,
      force: { type: 'boolean', help: 'also restore files changed since that run (their current version is backed up first)' },
    },
    positionals: 1,
  },
  backups: {
    summary: 'list the backups, newest first; --secure makes the backup folders writable by administrators only',
    usage:
      'kerio-dcc backups [--verify] [--answers FILE] [--json] [--root DIR]\n       kerio-dcc backups --secure [--yes] [--dry-run] [--answers FILE] [--json] [--root DIR --simulate]',
    options: {
      ...COMMON,
      verify: { type: 'boolean', help: 're-hash every backup against its manifest' },
      secure: {
        type: 'boolean',
        help: 'after you have looked at what is in them: make Administrators the owner of the state and backup folders and everything inside, and let only SYSTEM and Administrators write there (backed up; undo with rollback ID)',
      },
      yes: CHANGING.yes!,
      'dry-run': CHANGING['dry-run']!,
    },
    positionals: 0,
  },
  status: {
    summary: 'check that DCC is on and nothing has drifted (exit 0, or 6 with the fix)',
    usage: 'kerio-dcc status [--answers FILE] [--json] [--root DIR [--simulate]]',
    options: { ...COMMON },
    positionals: 0,
  },
  doctor: {
    summary: 'status, plus a live DCC self-test with dccproc (query only, reports nothing)',
    usage: 'kerio-dcc doctor [--answers FILE] [--timeout SECONDS] [--json] [--root DIR [--simulate]]',
    options: { ...COMMON, timeout: { type: 'string', arg: 'SECONDS', help: 'how long dccproc may take for each test (default 20)' } },
    positionals: 0,
  },
  watch: {
    summary: 'keep DCC on: a scheduled task (SYSTEM) that checks it at boot, every few hours and after Kerio starts, and repairs it',
    usage:
      'kerio-dcc watch --answers FILE [--yes] [--dry-run] [--json] [--log FILE] [--root DIR --simulate]\n       kerio-dcc watch --remove [--yes] [--dry-run] [--json] [--root DIR --simulate]\n       kerio-dcc watch --run --answers FILE   (what the task runs: status, and install when DCC drifted)',
    options: {
      ...COMMON,
      yes: CHANGING.yes!,
      'dry-run': CHANGING['dry-run']!,
      remove: { type: 'boolean', help: 'delete the scheduled task and its files (backed up; undo with rollback)' },
      run: {
        type: 'boolean',
        help: 'the repair the task runs: status; if DCC drifted, install with these answers ([watch] restart decides about restarting Kerio)',
      },
    },
    positionals: 0,
  },
  demo: {
    summary: 'build a throw-away image of a Windows server with Kerio and run install on it',
    usage: 'kerio-dcc demo [--json] [--log FILE]',
    options: { json: COMMON.json!, help: COMMON.help!, log: COMMON.log! },
    positionals: 0,
  },
  answers: {
    summary: 'print the answers-file template with every key and its default',
    usage: 'kerio-dcc answers > dcc.ini',
    options: { help: COMMON.help! },
    positionals: 0,
  },
};

export function generalHelp(version: string): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    `kerio-dcc ${version}: turn on DCC in Kerio Connect's SpamAssassin, safely and repeatably.`,
    '',
    'Usage: kerio-dcc <command> [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `kerio-dcc <command> --help` for its options. `kerio-dcc --version` prints the version.',
    'Exit codes: 0 done, 1 unexpected error, 2 usage or answers error, 3 precondition failed (nothing changed),',
    '            4 failed and restored from the backup, 5 failed and restore incomplete, 6 status: drift, 130 interrupted.',
  ].join('\n');
}

export function commandHelp(name: string): string {
  const c = COMMANDS[name]!;
  const rows = Object.entries(c.options).map(([opt, s]) => [`${s.short ? `-${s.short}, ` : '    '}--${opt}${s.arg ? ` ${s.arg}` : ''}`, s.help] as const);
  const width = Math.max(...rows.map(([left]) => left.length));
  return [`${c.summary}`, '', `Usage: ${c.usage}`, '', 'Options:', ...rows.map(([l, r]) => `  ${l.padEnd(width)}  ${r}`)].join('\n');
}

export interface ParsedCommand {
  name: string;
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

export function parseCommand(name: string, argv: string[]): ParsedCommand {
  const spec = COMMANDS[name];
  if (!spec) throw new UsageError(`Unknown command "${name}".`, 'Run `kerio-dcc --help` for the list of commands.');
  const options = Object.fromEntries(Object.entries(spec.options).map(([k, s]) => [k, { type: s.type, ...(s.short ? { short: s.short } : {}) }]));
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message.split('\n')[0]}`, `Run \`kerio-dcc ${name} --help\` for its options.`);
  }
  if (parsed.positionals.length > spec.positionals) {
    throw new UsageError(`Unexpected argument "${parsed.positionals[spec.positionals]}" for ${name}.`, `Usage: ${spec.usage}`);
  }
  return { name, values: parsed.values as ParsedCommand['values'], positionals: parsed.positionals };
}
