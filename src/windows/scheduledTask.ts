/**
 * The scheduled task that keeps DCC on (kerio-dcc watch): its full Task Scheduler XML, and
 * the `schtasks.exe` calls that register, read and delete it.
 *
 * The XML follows the Task Scheduler schema (learn.microsoft.com, "Task Scheduler Schema";
 * [MS-TSCH] 2.5): `taskType` is an `xs:all` (any order), the trigger types are sequences
 * (`Enabled`, `StartBoundary`, `EndBoundary`, `Repetition`, `ExecutionTimeLimit`, then the
 * trigger's own elements: `Delay` for a boot trigger; `Subscription`, `Delay` for an event
 * trigger; `ScheduleByDay` for a calendar trigger), `settingsType` and `principalType` are
 * `xs:all`. Version 1.2 (Windows 7 / 2008 R2 and later) covers every element used here.
 * test/fixtures/task-scheduler/ holds the schema's parts these use, for xmllint.
 *
 * The task runs as SYSTEM (`S-1-5-18`, a SID: the same in every display language) with the
 * highest privileges, and starts:
 * - at boot, after a delay that lets Kerio start;
 * - every N hours (a time trigger from a fixed past start, repeated for ever);
 * - when the Kerio service enters a state (Service Control Manager event 7036 in the System
 *   log, whose `param1` is the service's display name), after a delay: an upgrade restarts it;
 * - with a maintenance window, daily at the window's start, so a repair that waits for the
 *   window gets a run inside it.
 */
import { joinWin, type Target, type WinPath } from '../target/target.js';
import type { CommandRequest, CommandResult, CommandRunner } from '../system/runner.js';

/** The task's folder and name in Task Scheduler. */
export const TASK_FOLDER = '\\kerio-dcc\\';
export const TASK_NAME = `${TASK_FOLDER}repair`;
export const TASK_NAMESPACE = 'http://schemas.microsoft.com/windows/2004/02/mit/task';
/** Minutes after boot before the first check: Kerio's service starts automatically and needs a moment. */
export const BOOT_DELAY_MINUTES = 5;
/** Minutes after the Kerio service changed state: an upgrade stops it, replaces files, then starts it. */
export const SERVICE_EVENT_DELAY_MINUTES = 2;
/** A repair that runs longer than this is stopped by Task Scheduler (the service timeouts are far shorter). */
export const RUN_LIMIT = 'PT1H';

export interface TaskSpec {
  /** The program the task starts (kerio-dcc.exe, or node.exe for the npm package). */
  command: WinPath;
  /** Its arguments, quoted into one command line by the Windows rules. */
  args: string[];
  intervalHours: number;
  /** The Kerio service's display name (event 7036's param1); null: no service trigger. */
  serviceDisplayName: string | null;
  /** HH:MM: also run daily at this local time (the start of the maintenance window); null: none. */
  dailyAt: string | null;
  description: string;
}

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

export function xmlEscape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => XML_ESCAPES[c]!);
}

/**
 * One argument for a Windows command line, as the Microsoft C runtime and
 * CommandLineToArgvW split it back: quoted when it has a space, a tab or a quote (or is
 * empty); backslashes doubled only where a quote follows them.
 */
export function quoteWindowsArg(arg: string): string {
  if (arg !== '' && !/[ \t"]/.test(arg)) return arg;
  let out = '"';
  let slashes = 0;
  for (const c of arg) {
    if (c === '\\') {
      slashes++;
      continue;
    }
    out += c === '"' ? '\\'.repeat(slashes * 2 + 1) + '"' : '\\'.repeat(slashes) + c;
    slashes = 0;
  }
  return `${out}${'\\'.repeat(slashes * 2)}"`;
}

/** The XPath subscription of the service trigger: event 7036 of the Service Control Manager for this service. */
export function serviceEventQuery(displayName: string): string {
  // XPath string literal in single quotes: a display name with ' cannot be written in one.
  const name = displayName.includes("'") ? null : displayName;
  const data = name === null ? '' : ` and *[EventData[Data[@Name='param1']='${name}']]`;
  return `<QueryList><Query Id="0" Path="System"><Select Path="System">*[System[Provider[@Name='Service Control Manager'] and EventID=7036]]${data}</Select></Query></QueryList>`;
}

/** The task definition, every setting explicit. */
export function taskXml(spec: TaskSpec): string {
  if (!Number.isInteger(spec.intervalHours) || spec.intervalHours < 1 || spec.intervalHours > 168)
    throw new Error(`internal: bad interval ${spec.intervalHours}`);
  const e = xmlEscape;
  const triggers = [
    '    <BootTrigger>',
    '      <Enabled>true</Enabled>',
    `      <Delay>PT${BOOT_DELAY_MINUTES}M</Delay>`,
    '    </BootTrigger>',
    '    <TimeTrigger>',
    '      <Enabled>true</Enabled>',
    '      <StartBoundary>2020-01-01T00:00:00</StartBoundary>',
    '      <Repetition>',
    `        <Interval>${spec.intervalHours % 24 === 0 ? `P${spec.intervalHours / 24}D` : `PT${spec.intervalHours}H`}</Interval>`,
    '        <StopAtDurationEnd>false</StopAtDurationEnd>',
    '      </Repetition>',
    '    </TimeTrigger>',
    ...(spec.serviceDisplayName === null
      ? []
      : [
          '    <EventTrigger>',
          '      <Enabled>true</Enabled>',
          `      <Subscription>${e(serviceEventQuery(spec.serviceDisplayName))}</Subscription>`,
          `      <Delay>PT${SERVICE_EVENT_DELAY_MINUTES}M</Delay>`,
          '    </EventTrigger>',
        ]),
    ...(spec.dailyAt === null
      ? []
      : [
          '    <CalendarTrigger>',
          '      <Enabled>true</Enabled>',
          `      <StartBoundary>2020-01-01T${spec.dailyAt}:00</StartBoundary>`,
          '      <ScheduleByDay>',
          '        <DaysInterval>1</DaysInterval>',
          '      </ScheduleByDay>',
          '    </CalendarTrigger>',
        ]),
  ];
  return [
    '<?xml version="1.0" encoding="UTF-16"?>',
    `<Task version="1.2" xmlns="${TASK_NAMESPACE}">`,
    '  <RegistrationInfo>',
    '    <Author>kerio-dcc</Author>',
    `    <Description>${e(spec.description)}</Description>`,
    `    <URI>${e(TASK_NAME)}</URI>`,
    '  </RegistrationInfo>',
    '  <Triggers>',
    ...triggers,
    '  </Triggers>',
    '  <Principals>',
    '    <Principal id="System">',
    '      <UserId>S-1-5-18</UserId>',
    '      <RunLevel>HighestAvailable</RunLevel>',
    '    </Principal>',
    '  </Principals>',
    '  <Settings>',
    '    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>',
    '    <DisallowStartIfOnBatteries>false</DisallowStartIfOnBatteries>',
    '    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>',
    '    <AllowHardTerminate>true</AllowHardTerminate>',
    '    <StartWhenAvailable>true</StartWhenAvailable>',
    '    <RunOnlyIfNetworkAvailable>false</RunOnlyIfNetworkAvailable>',
    '    <IdleSettings>',
    '      <StopOnIdleEnd>false</StopOnIdleEnd>',
    '      <RestartOnIdle>false</RestartOnIdle>',
    '    </IdleSettings>',
    '    <AllowStartOnDemand>true</AllowStartOnDemand>',
    '    <Enabled>true</Enabled>',
    '    <Hidden>false</Hidden>',
    '    <RunOnlyIfIdle>false</RunOnlyIfIdle>',
    '    <WakeToRun>false</WakeToRun>',
    `    <ExecutionTimeLimit>${RUN_LIMIT}</ExecutionTimeLimit>`,
    '    <Priority>7</Priority>',
    '  </Settings>',
    '  <Actions Context="System">',
    '    <Exec>',
    `      <Command>${e(spec.command)}</Command>`,
    `      <Arguments>${e(spec.args.map(quoteWindowsArg).join(' '))}</Arguments>`,
    '    </Exec>',
    '  </Actions>',
    '</Task>',
    '',
  ].join('\r\n');
}

/**
 * The file schtasks /Create /XML reads: UTF-16 little-endian with a byte-order mark, as
 * Task Scheduler itself exports a task, matching the declaration's encoding="UTF-16".
 */
export function taskFileBytes(xml: string): Buffer {
  return Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(xml, 'utf16le')]);
}

/** A task file's text (UTF-16LE with BOM, or UTF-8), for comparing and for the simulation. */
export function taskFileText(bytes: Buffer): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return bytes.subarray(2).toString('utf16le');
  return bytes.toString('utf8').replace(/^\uFEFF/, '');
}

function unescapeXml(text: string): string {
  return text.replace(/&(amp|lt|gt|quot|apos);/g, (_m, n: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" })[n]!);
}

/**
 * What decides whether a registered task is ours as wanted: the text of the elements that
 * say what runs, as whom, and when. Task Scheduler stores and prints a definition in its own
 * layout (it adds a URI, may reorder or re-indent), so bytes are never compared.
 */
export function taskFingerprint(xml: string): string {
  const fields = [
    'UserId',
    'RunLevel',
    'Command',
    'Arguments',
    'Interval',
    'Delay',
    'Subscription',
    'StartBoundary',
    'DaysInterval',
    'Enabled',
    'ExecutionTimeLimit',
    'MultipleInstancesPolicy',
  ];
  const parts: string[] = [];
  for (const f of fields) {
    const re = new RegExp(`<${f}>([^<]*)</${f}>`, 'g');
    for (let m; (m = re.exec(xml));) parts.push(`${f}=${unescapeXml(m[1]!)}`);
  }
  for (const trigger of ['BootTrigger', 'TimeTrigger', 'EventTrigger', 'CalendarTrigger'])
    parts.push(`${trigger}:${(xml.match(new RegExp(`<${trigger}[ >]`, 'g')) ?? []).length}`);
  return parts.join('\n');
}

/** The program and the arguments the task starts, read from its XML. */
export function taskAction(xml: string): { command: string; arguments: string } | null {
  const command = /<Command>([^<]*)<\/Command>/.exec(xml);
  if (!command) return null;
  const args = /<Arguments>([^<]*)<\/Arguments>/.exec(xml);
  return { command: unescapeXml(command[1]!), arguments: args ? unescapeXml(args[1]!) : '' };
}

export function schtasksPath(target: Target): WinPath {
  const folder = !target.isImage && target.wow64Process ? 'Sysnative' : 'System32';
  return joinWin(target.systemRoot, folder, 'schtasks.exe');
}

/** Registers (or replaces: /F) the task from a task file. */
export function createTaskRequest(target: Target, xmlFile: WinPath): CommandRequest {
  return { program: schtasksPath(target), args: ['/Create', '/XML', xmlFile, '/TN', TASK_NAME, '/F'], mutates: true };
}

export function queryTaskRequest(target: Target): CommandRequest {
  return { program: schtasksPath(target), args: ['/Query', '/TN', TASK_NAME, '/XML'], mutates: false };
}

export function deleteTaskRequest(target: Target): CommandRequest {
  return { program: schtasksPath(target), args: ['/Delete', '/TN', TASK_NAME, '/F'], mutates: true };
}

/**
 * The registered task's XML, or null when there is none. schtasks exits 1 both for "no such
 * task" and for "access denied" (its words are localized): kerio-dcc registers and removes
 * the task only elevated, where an administrator may read every task, so 1 means absent.
 */
export async function queryTask(runner: CommandRunner, target: Target): Promise<string | null> {
  const result = await runner.run(queryTaskRequest(target));
  if (result.exitCode === 0 && !result.timedOut) return result.stdout;
  if (result.exitCode === 1 && !result.timedOut) return null;
  throw new Error(`schtasks /Query could not read the task ${TASK_NAME}: ${describe(result)}`);
}

function describe(result: CommandResult): string {
  const out = [result.stdout.trim(), result.stderr.trim()].filter(Boolean).join('\n');
  return `${result.timedOut ? 'timed out' : `exit code ${result.exitCode}`}${out ? `: ${out}` : ''}`;
}
