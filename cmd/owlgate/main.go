// Command owlgate is the chat-reference gateway: patrons on IRC, Matrix,
// Discord, WhatsApp, SMS and web chat, librarians on XMPP.
//
//	owlgate run --config FILE      run the gateway until SIGINT or SIGTERM
//	owlgate check --config FILE    check a config and summarise it
//	owlgate history export ...     write the chat history as CSV or JSON
//	owlgate history purge ...      delete chats or transcripts that ended before a date
//	owlgate version                print the version
//
// The networks this build can serve are listed in [networks]; there is no
// init-time registration anywhere.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/owlgate/owlgate/protocols"
	"github.com/owlgate/owlgate/protocols/irc"
	"github.com/owlgate/owlgate/protocols/sms"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise it comes from the module's build information.
var version = ""

// networks is the registry of the network adapters this build has, by the
// `network` key of an account. Each adapter package adds one line here.
func networks() map[string]protocols.Factory {
	return map[string]protocols.Factory{
		"irc":    irc.New,
		"matrix": matrixFactory(), // matrix.go, or nomatrix.go in a build without -tags goolm
		"sms":    sms.New,
	}
}

const usage = `owlgate: a chat-reference gateway for libraries

usage:
  owlgate run --config FILE      run the gateway until SIGINT or SIGTERM
  owlgate check --config FILE    check a config: a summary, or every error
  owlgate history export ...     write the chat history (CSV or JSON) to standard output
  owlgate history purge ...      delete chats (or their transcripts) that ended before a date
  owlgate version                print the version

owlgate history help lists the history commands' flags.

Documentation: README.md and examples/ in the source.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errUsage marks a mistake on the command line.
var errUsage = errors.New("usage")

// run runs one command and returns the process's exit code: 0 for success,
// 1 for a failure (a config that does not check, a gateway that stopped on
// an error), 2 for a command line mistake.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "run":
		err = cmdRun(ctx, args[1:], stderr)
	case "check":
		err = cmdCheck(args[1:], stdout, stderr)
	case "history":
		err = cmdHistory(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, versionString())
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "owlgate: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		fmt.Fprintf(stderr, "owlgate %s: %v\n", args[0], err)
		return 1
	}
}

// configFlag parses a command's flags: --config FILE (or -c FILE).
func configFlag(name string, args []string, stderr io.Writer) (string, error) {
	fs := flag.NewFlagSet("owlgate "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var path string
	fs.StringVar(&path, "config", "", "the configuration `file` (YAML)")
	fs.StringVar(&path, "c", "", "short for --config")
	if err := fs.Parse(args); err != nil {
		return "", errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "owlgate %s: unexpected argument %q\n", name, fs.Arg(0))
		return "", errUsage
	}
	if path == "" {
		fmt.Fprintf(stderr, "owlgate %s: --config FILE is required, e.g. owlgate %s --config examples/quickstart.yaml\n", name, name)
		return "", errUsage
	}
	return path, nil
}

func versionString() string {
	v := version
	goVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVersion = bi.GoVersion
		if v == "" {
			v = bi.Main.Version
		}
	}
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	return fmt.Sprintf("owlgate %s (%s)", v, goVersion)
}
