package main

import (
	"context"
	"fmt"
	"os"
	"os/user"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/postgres"
	"github.com/aicred/aicred/sqlite"
)

// envConfig names the server configuration when --config is not given.
const envConfig = "AICRED_CONFIG"

// configPath is --config, else $AICRED_CONFIG, else "" (no configuration).
func (a *app) configPath() string {
	if a.config != "" {
		return a.config
	}
	return os.Getenv(envConfig)
}

// serverConfig reads and checks the configuration named by configPath,
// once; nil when none is named. Every command reads the same file the same
// way, so they all agree with 'aicred serve' on the store.
func (a *app) serverConfig() (*serverConfig, error) {
	if a.didLoad {
		return a.loaded, a.loadedErr
	}
	a.didLoad = true
	path := a.configPath()
	if path == "" {
		return nil, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		a.loadedErr = fmt.Errorf("config: %w", err)
		return nil, a.loadedErr
	}
	if a.loaded, err = parseServerConfig(data); err != nil {
		a.loaded, a.loadedErr = nil, fmt.Errorf("config %s: %w", path, err)
	}
	return a.loaded, a.loadedErr
}

// storeDSN names the store every command opens: --store, else the
// configuration's store:, else $AICRED_STORE, else "" (the default file).
func (a *app) storeDSN() (string, error) {
	if a.store != "" {
		return a.store, nil
	}
	cfg, err := a.serverConfig()
	if err != nil {
		return "", err
	}
	if cfg != nil && cfg.Store != "" {
		return cfg.Store, nil
	}
	return os.Getenv(sqlite.EnvStore), nil
}

// openStore opens the store storeDSN names, else the embedded SQLite file
// under the user's data directory. A postgres:// URL selects PostgreSQL.
func (a *app) openStore(ctx context.Context) (aicred.Store, error) {
	dsn, err := a.storeDSN()
	if err != nil {
		return nil, err
	}
	if postgres.IsDSN(dsn) {
		return postgres.Open(ctx, dsn)
	}
	path := dsn
	if path == "" {
		p, err := sqlite.DefaultPath()
		if err != nil {
			return nil, err
		}
		path = p
	}
	return sqlite.Open(ctx, path)
}

// actorContext names the person running the command in audit records.
func actorContext(ctx context.Context) context.Context {
	name := "cli"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = "cli:" + u.Username
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		name += "@" + h
	}
	return aicred.WithActor(ctx, name)
}

// errExit maps an error to the process exit code, with its message.
func errExit(err error) error {
	if err == nil {
		return nil
	}
	return &exitCode{code: exitError, err: err}
}
