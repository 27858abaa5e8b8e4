package main

import (
	"context"
	"flag"
	"io"

	"callmon/cmd/callmon/config"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
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
	if err := cfg.CheckTokens(); err != nil {
		return err
	}
	key, err := cf.sessionKey()
	if err != nil {
		return err
	}
	if key == nil {
		log.Warn("no --web.session-key-file: sessions are signed with a random key and end when callmon restarts")
	}
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
		HandOff: *handOff,
	})
	if err != nil {
		return err
	}
	log.Info("callmon running", "version", version, "ari", cfg.ARI.URL, "application", cfg.ARI.Application,
		"queues", len(cfg.Queues), "agents", len(cfg.Agents), "listen", d.Addr.String(), "api", d.APIAddr.String())
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err = <-d.Err():
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
