# Runs SpamAssassin's own DCC plugin code (Debian's 4.0.1, Plugin/DCC.pm ask_dcc) as it
# runs on Windows, and prints the command string it opens for dccproc: the string that
# Util::helper_app_pipe_open_windows hands to Perl's pipe open, which on Windows goes to
# cmd.exe. Nothing is started: the pipe open is recorded and answered with a canned
# X-DCC header. Input (stdin): a JSON list of {"dcc_home": ..., "dcc_path": ...} and,
# optionally, "upstream_x_dcc" (an X-DCC header already in the message: SpamAssassin then
# adds -Q, query only);
# output (stdout): a JSON list of the opened strings, one per case.
use strict;
use warnings;
use JSON::PP;
# Modules that look at $^O are loaded while it still names this machine's system.
use Config; use Encode; use IO::Handle; use File::Spec; use File::Basename; use Time::Local;
use Scalar::Util; use Fcntl; use Errno; use POSIX;
our @opened;
BEGIN {
  *CORE::GLOBAL::open = sub (*;$@) {
    die "unexpected open(@_[1 .. $#_]): only the pipe to dccproc is expected\n" unless @_ == 2 && defined $_[1] && $_[1] =~ /\|\z/;
    push @opened, $_[1];
    my $reply = "X-DCC-Test-Metrics: recorder 1; Body=1 Fuz1=1 Fuz2=1\n";
    CORE::open($_[0], '<', \$reply) or die "in-memory open: $!";
    return 4194305;    # above Linux's pid_max: a kill() of it can reach no process
  };
}
# Util.pm fixes RUNNING_ON_WINDOWS from $^O when it is compiled; Win32.pm is not needed
# for the code run here.
BEGIN { $INC{'Win32.pm'} = __FILE__; local $^O = 'MSWin32'; require Mail::SpamAssassin::Util; }
use Mail::SpamAssassin::Plugin::DCC;
die "Util.pm does not believe it runs on Windows\n" unless Mail::SpamAssassin::Util::am_running_on_windows();

package FakeMessageStatus {
  sub new { my ($class, $conf) = @_; return bless { conf => $conf }, $class }
  sub enter_helper_run_mode { }
  sub leave_helper_run_mode { }
  # Where SpamAssassin on Windows puts the message for dccproc's stdin.
  sub create_fulltext_tmpfile { 'C:\\Windows\\TEMP\\.spamassassin1234abcdef' }
}

my $cases = decode_json(do { local $/; <STDIN> });
my @out;
for my $case (@$cases) {
  @opened = ();
  my $conf = { dcc_home => $case->{dcc_home}, dcc_path => $case->{dcc_path}, dcc_timeout => 5 };
  # find_dcc_home runs once per plugin ("just once"): dcc_version set means done.
  my $plugin = bless { main => { conf => $conf }, dcc_version => '1.3.158', dccproc_available => 1 }, 'Mail::SpamAssassin::Plugin::DCC';
  my $pms = FakeMessageStatus->new($conf);
  $pms->{dcc_x_result} = $case->{upstream_x_dcc} if defined $case->{upstream_x_dcc};
  my ($x_dcc) = $plugin->ask_dcc('dcc:', $pms, \"Subject: test\n\nbody\n", { ip => '192.0.2.1' });
  die "ask_dcc did not read the recorded reply\n" unless defined $x_dcc && $x_dcc =~ /^X-DCC-Test-Metrics/;
  die 'expected one pipe open, got ' . scalar(@opened) . "\n" unless @opened == 1;
  push @out, $opened[0];
}
print encode_json(\@out);
