import { readTemplate } from '../templates.js';

export function answersTemplate(): Buffer {
  return readTemplate('answers.ini');
}
