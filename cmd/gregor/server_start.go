package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"

	"github.com/gregor-broker/gregor/conf"
	"github.com/gregor-broker/gregor/server"
	"github.com/sirupsen/logrus"
)

// overrides collects repeated --override key=value flags, as
// kafka-server-start.sh takes them.
type overrides map[string]string

func (o overrides) String() string { return fmt.Sprint(map[string]string(o)) }

func (o overrides) Set(kv string) error {
	k, v, ok := strings.Cut(kv, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return fmt.Errorf("want key=value, got %q", kv)
	}
	o[strings.TrimSpace(k)] = v
	return nil
}

// runServer is `gregor server start <config> [--override key=value]...`:
// it loads server.properties (or YAML with the same keys) and runs a broker
// until SIGINT or SIGTERM. Only wiring lives here (STYLE.md section 5).
func runServer(args []string, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "start" {
		fmt.Fprintln(stderr, "usage: gregor server start <server.properties|config.yaml> [--override key=value]... [--log-level info] [--pprof host:port]")
		return 2
	}
	fs := flag.NewFlagSet("server start", flag.ContinueOnError)
	fs.SetOutput(stderr)
	over := overrides{}
	fs.Var(over, "override", "a configuration key=value that replaces the file's (repeatable)")
	level := fs.String("log-level", "info", "log level: trace, debug, info, warn, error")
	pprofAddr := fs.String("pprof", "", "serve Go's pprof profiles on host:port (sets gregor.pprof.listener)")
	// The config file comes first, as with kafka-server-start.sh.
	rest := args[1:]
	if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
		fmt.Fprintln(stderr, "gregor server start: the configuration file comes first")
		return 2
	}
	path := rest[0]
	if err := fs.Parse(rest[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gregor server start: unexpected arguments %q\n", fs.Args())
		return 2
	}
	logger := logrus.New()
	logger.SetOutput(stderr)
	logger.SetFormatter(&logrus.TextFormatter{FullTimestamp: true})
	lvl, err := logrus.ParseLevel(*level)
	if err != nil {
		fmt.Fprintf(stderr, "gregor server start: --log-level: %v\n", err)
		return 2
	}
	logger.SetLevel(lvl)
	log := logrus.NewEntry(logger)

	props, err := conf.ReadFile(path)
	if err != nil {
		log.WithError(err).Error("cannot read the configuration")
		return 1
	}
	for k, v := range over {
		props[k] = v
	}
	if *pprofAddr != "" {
		props["gregor.pprof.listener"] = *pprofAddr
	}
	cfg, warnings, err := conf.Parse(props)
	for _, w := range warnings {
		log.WithField("key", w.Key).Warn(w.Message)
	}
	if err != nil {
		fmt.Fprintf(stderr, "gregor: invalid configuration in %s:\n%v\n", path, err)
		return 1
	}
	broker, err := server.New(cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "gregor: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := broker.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.WithError(err).Error("broker failed")
		return 1
	}
	return 0
}
