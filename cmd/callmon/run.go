package main

import (
	"context"
	"flag"
	"io"
	"os"
	"os/signal"
	"syscall"

	"callmon/cmd/callmon/config"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// SIGHUP re-reads the configuration and must never stop the process:
	// caught from the start, one that arrives during start-up is applied
	// once the daemon runs.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf commonFlags
	cf.register(fs, "callmon.yml")
	handOff := fs.Bool("ha.handoff-on-stop", true, "on a graceful stop of the active callmon with no standby running, send the callers still waiting to the dialplan fallback (with a standby they are carried on by it)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := newLogger(stderr, cf.logLevel, cf.logFormat)
	if err != nil {
		return err
	}
	push, err := cf.push()
	if err != nil {
		return err
	}
	cfg, err := config.Load(cf.configFile)
	if err != nil {
		return err
	}
	if err := cfg.CheckPrincipals(); err != nil {
		return err
	}
	key, err := cf.sessionKey()
	if err != nil {
		return err
	}
	if key == nil {
		log.Warn("no --web.session-key-file: sessions are signed with a random key and end when callmon restarts")
	}
	accessLog, closeAccessLog, err := cf.openAccessLog(stderr)
	if err != nil {
		return err
	}
	defer closeAccessLog()
	password, err := cfg.ARIPassword()
	if err != nil {
		return err
	}
	dbURL := cfg.DatabaseURL()
	if dbURL == "" {
		log.Warn("DATABASE_URL is not set: counting in memory only; today's service level restarts at zero with callmon and no call records are kept")
	}
	d, err := startDaemon(ctx, daemonOptions{
		Config: cfg, Password: password, Clock: wallClock{},
		ListenAddress: cf.listenAddress, APIListenAddress: cf.apiListenAddress, SessionKey: key,
		TelemetryPath: cf.telemetryPath, WebConfigFile: cf.webConfigFile, Log: log,
		DatabaseURL: dbURL, SpoolFile: cfg.Database.SpoolFile, Migrate: cfg.Database.MigrateOnStart, Push: push,
		HandOff: *handOff, AccessLog: accessLog,
	})
	if err != nil {
		return err
	}
	go func() {
		// Weak tokens are refused by check-config; a running callmon says so
		// loudly rather than delay its start (and a takeover) by seconds of bcrypt.
		if err := cfg.CheckTokens(); err != nil {
			log.Error("weak or unusable tokens in the configuration; replace them (callmon token)", "err", err)
		}
	}()
	log.Info("callmon running", "version", version, "ari", cfg.ARI.URL, "application", cfg.ARI.Application,
		"queues", len(cfg.Queues), "agents", len(cfg.Agents), "listen", d.Addr.String(), "api", d.APIAddr.String())
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down")
		case err = <-d.Err():
		case <-hup:
			_ = d.Reload(ctx, "SIGHUP") // logged as an audit line; the old configuration stays on failure
			continue
		}
		break
	}
	d.Stop()
	return err
}

func cmdCheckConfig(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config.file", "callmon.yml", "path to the YAML configuration file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, err := config.Load(*file)
	if err != nil {
		return err
	}
	if err := cfg.CheckTokens(); err != nil {
		return err
	}
	return cfg.Summary(stdout)
}
