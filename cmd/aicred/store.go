package main

import (
	"context"
	"os"
	"os/user"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/postgres"
	"github.com/aicred/aicred/sqlite"
)

// openStore opens the store named by --store, else AICRED_STORE, else the
// embedded SQLite file under the user's data directory. A postgres:// URL
// selects PostgreSQL.
func (a *app) openStore(ctx context.Context) (aicred.Store, error) {
	dsn := a.store
	if dsn == "" {
		dsn = os.Getenv(sqlite.EnvStore)
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
