import { readTemplate } from '../templates.js';

import { windowsText } from '../text/textFile.js';

/** The template, with CRLF on Windows so that Notepad on older servers shows its lines. */
export function answersTemplate(): Buffer {
  return windowsText(readTemplate('answers.ini'));
}
