/*
 * A stand-in for a Windows console tool (sc.exe, netsh.exe, net.exe, powershell.exe,
 * icacls.exe) inside a Wine prefix, built with mingw-w64 by test/helpers/windows/standins.ts.
 *
 * It is dumb on purpose. It sends the test's broker (a TCP port on 127.0.0.1, from the
 * environment variable KERIO_DCC_STANDIN_PORT) its own file name, the exact command line
 * it received, and that line split by Windows' own CommandLineToArgvW; the broker answers
 * from the recorded outputs (src/system/simulated/), the same ones the in-process
 * simulation prints. It then writes the answer as a real console tool does, in the OEM
 * code page of the prefix (converted by Windows, not by the test), or as UTF-8 when the
 * broker says the tool prints UTF-8 (PowerShell as kerio-dcc starts it), and exits with
 * the recorded exit code.
 *
 * Protocol, all integers 32-bit little-endian. Request: a count N, then N fields, each a
 * length and UTF-8 bytes: tool file name, command line, argv[1] ... Answer: exit code,
 * encoding (0 OEM, 1 UTF-8), stdout length and UTF-8 bytes, stderr length and UTF-8 bytes.
 */
#include <winsock2.h>
#include <windows.h>
#include <shellapi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *what) {
  DWORD n;
  char line[256];
  int len = snprintf(line, sizeof line, "kerio-dcc stand-in: %s (error %lu)\r\n", what, (unsigned long)GetLastError());
  WriteFile(GetStdHandle(STD_ERROR_HANDLE), line, len, &n, NULL);
  ExitProcess(9999);
}

static char *utf8(const wchar_t *w) {
  int len = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
  char *s = malloc(len);
  if (!s) fail("out of memory");
  WideCharToMultiByte(CP_UTF8, 0, w, -1, s, len, NULL, NULL);
  return s;
}

static void sendAll(SOCKET s, const void *data, int len) {
  const char *p = data;
  while (len > 0) {
    int n = send(s, p, len, 0);
    if (n <= 0) fail("cannot send to the broker");
    p += n;
    len -= n;
  }
}

static void sendField(SOCKET s, const char *text) {
  unsigned int len = (unsigned int)strlen(text);
  sendAll(s, &len, 4);
  sendAll(s, text, (int)len);
}

static void recvAll(SOCKET s, void *data, int len) {
  char *p = data;
  while (len > 0) {
    int n = recv(s, p, len, 0);
    if (n <= 0) fail("the broker closed the connection early");
    p += n;
    len -= n;
  }
}

static char *recvField(SOCKET s, unsigned int *len) {
  char *text;
  recvAll(s, len, 4);
  text = malloc(*len + 1);
  if (!text) fail("out of memory");
  if (*len > 0) recvAll(s, text, (int)*len);
  text[*len] = 0;
  return text;
}

/* Writes UTF-8 text to a standard handle, converted to the OEM code page unless asked for UTF-8. */
static void writeOut(DWORD which, const char *text, unsigned int len, int asUtf8) {
  HANDLE h = GetStdHandle(which);
  DWORD n;
  if (len == 0) return;
  if (asUtf8) {
    WriteFile(h, text, len, &n, NULL);
    return;
  }
  int wlen = MultiByteToWideChar(CP_UTF8, 0, text, (int)len, NULL, 0);
  wchar_t *w = malloc(sizeof(wchar_t) * (wlen + 1));
  if (!w) fail("out of memory");
  MultiByteToWideChar(CP_UTF8, 0, text, (int)len, w, wlen);
  int olen = WideCharToMultiByte(CP_OEMCP, 0, w, wlen, NULL, 0, NULL, NULL);
  char *o = malloc(olen + 1);
  if (!o) fail("out of memory");
  WideCharToMultiByte(CP_OEMCP, 0, w, wlen, o, olen, NULL, NULL);
  WriteFile(h, o, (DWORD)olen, &n, NULL);
}

int main(void) {
  wchar_t self[MAX_PATH];
  char portText[16];
  WSADATA wsa;
  struct sockaddr_in addr;
  SOCKET s;
  int argc, i;
  unsigned int count, exitCode, encoding, outLen, errLen;
  wchar_t **argv;
  const wchar_t *name;
  char *out, *err;

  if (!GetModuleFileNameW(NULL, self, MAX_PATH)) fail("GetModuleFileNameW failed");
  name = wcsrchr(self, L'\\');
  name = name ? name + 1 : self;
  if (!GetEnvironmentVariableA("KERIO_DCC_STANDIN_PORT", portText, sizeof portText)) fail("KERIO_DCC_STANDIN_PORT is not set");
  argv = CommandLineToArgvW(GetCommandLineW(), &argc);
  if (!argv) fail("CommandLineToArgvW failed");

  if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0) fail("WSAStartup failed");
  s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  if (s == INVALID_SOCKET) fail("socket failed");
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)atoi(portText));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(s, (struct sockaddr *)&addr, sizeof addr) != 0) fail("cannot reach the broker");

  count = (unsigned int)(argc + 1);
  sendAll(s, &count, 4);
  sendField(s, utf8(name));
  sendField(s, utf8(GetCommandLineW()));
  for (i = 1; i < argc; i++) sendField(s, utf8(argv[i]));

  recvAll(s, &exitCode, 4);
  recvAll(s, &encoding, 4);
  out = recvField(s, &outLen);
  err = recvField(s, &errLen);
  closesocket(s);
  writeOut(STD_OUTPUT_HANDLE, out, outLen, encoding == 1);
  writeOut(STD_ERROR_HANDLE, err, errLen, encoding == 1);
  ExitProcess(exitCode);
  return 0;
}
