/**
 * The words the real tools print, per display language: the one record that both the
 * in-process simulation (simulated/sc.ts, netsh.ts, net.ts) and the Windows stand-ins under
 * Wine (test/helpers/windows/standins.ts, which run the same handlers) print from, so the
 * two cannot drift apart. English is confirmed (docs/windows-tool-output.md); the German texts
 * are illustrative and exist to prove that decisions never depend on words.
 */
import type { SimLanguage } from './state.js';

export interface Texts {
  scSuccess: string;
  scFailed: string;
  win32: Record<number, string>;
  ok: string;
  noRules: string;
  deleted: (n: number) => string;
  needsElevation: string;
  invalidValue: string;
  netNoEntries: string;
  netSystemError5: string;
  ruleLabels: readonly string[];
  values: Record<string, string>;
}

export const TEXTS: Record<SimLanguage, Texts> = {
  en: {
    scSuccess: 'SUCCESS',
    scFailed: 'FAILED',
    win32: {
      5: 'Access is denied.',
      1056: 'An instance of the service is already running.',
      1060: 'The specified service does not exist as an installed service.',
      1061: 'The service cannot accept control messages at this time.',
      1062: 'The service has not been started.',
    },
    ok: 'Ok.',
    noRules: 'No rules match the specified criteria.',
    deleted: (n) => `Deleted ${n} rule(s).`,
    needsElevation: 'The requested operation requires elevation (Run as administrator).',
    invalidValue: 'A specified value is not valid.',
    netNoEntries: 'There are no entries in the list.',
    netSystemError5: 'System error 5 has occurred.\r\n\r\nAccess is denied.',
    ruleLabels: [
      'Rule Name:',
      'Enabled:',
      'Direction:',
      'Profiles:',
      'Grouping:',
      'LocalIP:',
      'RemoteIP:',
      'Protocol:',
      'LocalPort:',
      'RemotePort:',
      'Edge traversal:',
      'Action:',
    ],
    values: {},
  },
  // Illustrative German texts: they exist to prove that decisions never depend on words.
  de: {
    scSuccess: 'ERFOLG',
    scFailed: 'FEHLER',
    win32: {
      5: 'Zugriff verweigert',
      1056: 'Eine Instanz des Dienstes wird bereits ausgeführt.',
      1060: 'Der angegebene Dienst ist kein installierter Dienst.',
      1061: 'Der Dienst kann zurzeit keine Steuerungsmeldungen annehmen.',
      1062: 'Der Dienst wurde nicht gestartet.',
    },
    ok: 'OK.',
    noRules: 'Keine Regeln entsprechen den angegebenen Kriterien.',
    deleted: (n) => `${n} Regel(n) gelöscht.`,
    needsElevation: 'Für den angeforderten Vorgang sind erhöhte Rechte erforderlich (Als Administrator ausführen).',
    invalidValue: 'Ein angegebener Wert ist ungültig.',
    netNoEntries: 'Es sind keine Einträge in der Liste vorhanden.',
    netSystemError5: 'Systemfehler 5 aufgetreten.\r\n\r\nZugriff verweigert',
    ruleLabels: [
      'Regelname:',
      'Aktiviert:',
      'Richtung:',
      'Profile:',
      'Gruppierung:',
      'LokaleIP:',
      'RemoteIP:',
      'Protokoll:',
      'Lokaler Port:',
      'Remoteport:',
      'Edgeausnahme:',
      'Aktion:',
    ],
    values: {
      Yes: 'Ja',
      No: 'Nein',
      In: 'Eingehend',
      Out: 'Ausgehend',
      Allow: 'Zulassen',
      Block: 'Blockieren',
      Bypass: 'Umgehen',
      Any: 'Beliebig',
      Domain: 'Domäne',
      Private: 'Privat',
      Public: 'Öffentlich',
    },
  },
};
