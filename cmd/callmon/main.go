// Command callmon is the ARI application that runs and measures the
// contact centre: `callmon run` (the daemon), `callmon demo` (the daemon
// against an embedded simulated Asterisk), `callmon simulate` (a simulated
// Asterisk alone, for real callmon processes) and `callmon check-config`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `callmon: service-level monitor and call router for an Asterisk contact centre

Usage:
  callmon run          [flags]   run the daemon against Asterisk
  callmon demo         [flags]   run the daemon against an embedded simulated Asterisk
  callmon simulate     [flags]   run a simulated Asterisk alone, for callmon run processes
  callmon check-config [flags]   validate the configuration and print a summary
  callmon migrate [up|status]    apply or list the database migrations (DATABASE_URL)
  callmon report [flags]         service level per day and queue from the call records
  callmon token --id ID          a new token for a person or screen, and its hash for the configuration
  callmon prompts list|generate|check   the sounds callmon plays; a Dutch placeholder set (espeak-ng)
  callmon version

Run "callmon <command> -h" for the flags of a command.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(profiled(func() int { return Main(ctx, os.Args[1:], os.Stdout, os.Stderr) }))
}

// Main runs one subcommand and returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "run":
		err = cmdRun(ctx, args[1:], stdout, stderr)
	case "demo":
		err = cmdDemo(ctx, args[1:], stdout, stderr)
	case "simulate":
		err = cmdSimulate(ctx, args[1:], stdout, stderr)
	case "check-config":
		err = cmdCheckConfig(args[1:], stdout, stderr)
	case "migrate":
		err = cmdMigrate(ctx, args[1:], stdout, stderr)
	case "report":
		err = cmdReport(ctx, args[1:], stdout, stderr)
	case "token":
		err = cmdToken(args[1:], stdout, stderr)
	case "prompts":
		err = cmdPrompts(ctx, args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintf(stdout, "callmon %s\n", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "callmon: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "callmon %s: %v\n", args[0], err)
			return 2
		}
		fmt.Fprintf(stderr, "callmon %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

type usageError struct{ error }

// commonFlags are the exporter-style flags every command that serves shares.
type commonFlags struct {
	configFile       string
	listenAddress    string
	apiListenAddress string
	sessionKeyFile   string
	telemetryPath    string
	webConfigFile    string
	accessLog        string
	logLevel         string
	logFormat        string
	pushURL          string
	pushInterval     time.Duration
	pushLabels       pushLabelFlag
}

func (c *commonFlags) register(fs *flag.FlagSet, defaultConfig string) {
	fs.StringVar(&c.configFile, "config.file", defaultConfig, "path to the YAML configuration file")
	fs.StringVar(&c.listenAddress, "web.listen-address", "127.0.0.1:9464", "address to serve /metrics on (TLS and basic auth from --web.config.file)")
	fs.StringVar(&c.apiListenAddress, "api.listen-address", "127.0.0.1:9465", "address to serve the API, the pages and /-/healthy, /-/ready on (TLS from --web.config.file; people sign in with their own tokens)")
	fs.StringVar(&c.sessionKeyFile, "web.session-key-file", "", "file holding at least 32 secret bytes that sign session cookies (same file on every callmon of a site); empty: a random key, and sessions end when callmon restarts")
	fs.StringVar(&c.telemetryPath, "web.telemetry-path", "/metrics", "path under which to expose metrics")
	fs.StringVar(&c.webConfigFile, "web.config.file", "", "exporter-toolkit web configuration file: TLS for both listeners, basic auth for /metrics")
	fs.StringVar(&c.accessLog, "web.access-log", "", "write one line per HTTP request (tokens and phone numbers redacted) to this file, or - for stderr; empty: off")
	fs.StringVar(&c.logLevel, "log.level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.logFormat, "log.format", "logfmt", "log format: logfmt or json")
	fs.StringVar(&c.pushURL, "push.url", "", "also push all metrics to this VictoriaMetrics import URL, e.g. http://vm:8428/api/v1/import/prometheus")
	fs.DurationVar(&c.pushInterval, "push.interval", 15*time.Second, "time between pushes to --push.url")
	fs.Var(&c.pushLabels, "push.extra-label", "name=value label added to every pushed series, e.g. instance=callmon-1 (repeatable)")
}

// sessionKey reads --web.session-key-file; nil without one.
func (c *commonFlags) sessionKey() ([]byte, error) {
	if c.sessionKeyFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(c.sessionKeyFile)
	if err != nil {
		return nil, fmt.Errorf("--web.session-key-file: %w", err)
	}
	if len(b) < 32 {
		return nil, fmt.Errorf("--web.session-key-file %s: %d bytes, want at least 32 (make one with: head -c 32 /dev/urandom > %s)", c.sessionKeyFile, len(b), c.sessionKeyFile)
	}
	return b, nil
}

// openAccessLog opens --web.access-log for appending: nil when off, stderr
// for "-". close is never nil.
func (c *commonFlags) openAccessLog(stderr io.Writer) (w io.Writer, close func(), err error) {
	switch c.accessLog {
	case "":
		return nil, func() {}, nil
	case "-":
		return stderr, func() {}, nil
	}
	f, err := os.OpenFile(c.accessLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, nil, usageError{fmt.Errorf("--web.access-log: %w", err)}
	}
	return f, func() { f.Close() }, nil
}

// push returns the validated push options.
func (c *commonFlags) push() (pushOptions, error) {
	o := pushOptions{URL: c.pushURL, Interval: c.pushInterval, ExtraLabels: c.pushLabels}
	if _, err := o.check(); err != nil {
		return o, usageError{err}
	}
	return o, nil
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, usageError{fmt.Errorf("--log.level %q: want debug, info, warn or error", level)}
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "logfmt", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, usageError{fmt.Errorf("--log.format %q: want logfmt or json", format)}
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))}
	}
	return nil
}
