package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/sqlite"
	"github.com/aicred/aicred/storetest"
)

// Helper processes: the test binary re-executed with envHelper set writes
// to the store at envPath until it is done or killed.
const (
	envHelper = "AICRED_SQLITE_TEST_HELPER"
	envPath   = "AICRED_SQLITE_TEST_PATH"
	envSeed   = "AICRED_SQLITE_TEST_SEED"
	envRounds = "AICRED_SQLITE_TEST_ROUNDS"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(envHelper); mode != "" {
		run := helper
		if mode == "revoke" {
			run = revokeHelper
		}
		if err := run(); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// helper records rounds batches of sightings (forever when rounds is 0),
// each followed by an audit event.
func helper() error {
	seed, _ := strconv.ParseUint(os.Getenv(envSeed), 10, 64)
	rounds, _ := strconv.Atoi(os.Getenv(envRounds))
	ctx := aicred.WithActor(context.Background(), "helper-"+os.Getenv(envSeed))
	s, err := sqlite.Open(ctx, os.Getenv(envPath), sqlite.BusyTimeout(time.Minute))
	if err != nil {
		return err
	}
	defer s.Close()
	g := storetest.NewGen(seed)
	shared := storetest.NewGen(7).Secret()
	for r := 0; rounds == 0 || r < rounds; r++ {
		obs := g.Observations(50, 10, time.Now())
		obs = append(obs, storetest.Observation(shared, "/shared", fmt.Sprintf("p%d-%d", seed, r), "", time.Now()))
		if _, err := s.RecordSightings(ctx, obs); err != nil {
			return err
		}
		if _, err := s.AppendAudit(ctx, aicred.AuditEvent{Action: "helper.round", Data: map[string]string{"round": strconv.Itoa(r)}}); err != nil {
			return err
		}
	}
	return nil
}

// revokeHelper makes rounds revocations, a random pause of up to 250 ms
// apart, as a second aicred process would.
func revokeHelper() error {
	rounds, _ := strconv.Atoi(os.Getenv(envRounds))
	ctx := aicred.WithActor(context.Background(), "revoke-helper")
	s, err := sqlite.Open(ctx, os.Getenv(envPath))
	if err != nil {
		return err
	}
	defer s.Close()
	for r := range rounds {
		time.Sleep(rand.N(250 * time.Millisecond))
		if err := s.Revoke(ctx, &aicred.Revocation{By: aicred.RevokeRole, Value: fmt.Sprintf("role-%d", r)}); err != nil {
			return err
		}
	}
	return nil
}

func startHelper(t *testing.T, path string, seed uint64, rounds int) *exec.Cmd {
	t.Helper()
	return startHelperMode(t, "write", path, seed, rounds)
}

func startHelperMode(t *testing.T, mode, path string, seed uint64, rounds int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envHelper+"="+mode, envPath+"="+path,
		envSeed+"="+strconv.FormatUint(seed, 10), envRounds+"="+strconv.Itoa(rounds))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func openAt(tb testing.TB, path string, opts ...sqlite.Option) *sqlite.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), path, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func newPath(tb testing.TB) string { return filepath.Join(tb.TempDir(), "aicred.db") }

// rawDB opens the file directly, bypassing the store.
func rawDB(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

var backend = storetest.Backend{
	Open: func(tb testing.TB) aicred.Store { return openAt(tb, newPath(tb)) },
	Exec: func(tb testing.TB, s aicred.Store, query string) {
		tb.Helper()
		db := rawDB(tb, s.(*sqlite.Store).Path())
		for _, q := range []string{"DROP TRIGGER IF EXISTS audit_log_no_update", "DROP TRIGGER IF EXISTS audit_log_no_delete", query} {
			if _, err := db.Exec(q); err != nil {
				tb.Fatalf("%s: %v", q, err)
			}
		}
	},
	Dump: func(tb testing.TB, s aicred.Store) []byte {
		tb.Helper()
		return dumpDir(tb, filepath.Dir(s.(*sqlite.Store).Path()))
	},
	Reopen: func(tb testing.TB, s aicred.Store) aicred.Store { return openAt(tb, s.(*sqlite.Store).Path()) },
}

// dumpDir returns the bytes of every file in dir: the database, its WAL
// and shared-memory files, and anything else written there.
func dumpDir(tb testing.TB, dir string) []byte {
	tb.Helper()
	var all []byte
	var names []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		names = append(names, filepath.Base(p))
		all = append(all, b...)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Logf("dumped %d bytes from %v", len(all), names)
	return all
}

func TestConformance(t *testing.T) { storetest.Run(t, backend) }

func BenchmarkRecordSightings(b *testing.B) {
	storetest.BenchmarkRecordSightings(b, func(tb testing.TB) aicred.Store { return openAt(tb, newPath(tb)) })
}

// The canary again, on the files left once the store is closed (the WAL
// checkpointed into the database).
func TestCanaryAfterClose(t *testing.T) {
	path := newPath(t)
	s := openAt(t, path)
	secrets, exported := storetest.RecordCanary(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	dump := dumpDir(t, filepath.Dir(path))
	if !bytes.Contains(dump, []byte(secrets[0].Fingerprint())) {
		t.Fatal("the files do not hold the canary's fingerprint")
	}
	storetest.AssertNoSecrets(t, append(dump, exported...), secrets...)
}

func TestPragmasAndModes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "dir", "aicred.db")
	s := openAt(t, path)
	defer s.Close()
	db := rawDB(t, path)
	var mode string
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal mode %q %v", mode, err)
	}
	if _, err := s.AppendAudit(context.Background(), aicred.AuditEvent{Action: "x"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %04o, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
	if fi, _ := os.Stat(filepath.Dir(path)); fi.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %04o", fi.Mode().Perm())
	}
}

func TestAppendOnlyGuard(t *testing.T) {
	path := newPath(t)
	s := openAt(t, path)
	defer s.Close()
	if _, err := s.AppendAudit(context.Background(), aicred.AuditEvent{Action: "x"}); err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	for _, q := range []string{"UPDATE audit_log SET actor = 'mallory'", "DELETE FROM audit_log"} {
		if _, err := db.Exec(q); err == nil {
			t.Errorf("%s: allowed", q)
		}
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv(sqlite.EnvStore, "")
	t.Setenv("XDG_DATA_HOME", "/data")
	if p, err := sqlite.DefaultPath(); err != nil || p != "/data/aicred/aicred.db" {
		t.Fatalf("XDG_DATA_HOME: %q %v", p, err)
	}
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("HOME", "/home/u")
	if p, err := sqlite.DefaultPath(); err != nil || p != "/home/u/.local/share/aicred/aicred.db" {
		t.Fatalf("home: %q %v", p, err)
	}
	t.Setenv(sqlite.EnvStore, "/var/lib/aicred/store.db")
	if p, err := sqlite.DefaultPath(); err != nil || p != "/var/lib/aicred/store.db" {
		t.Fatalf("AICRED_STORE: %q %v", p, err)
	}
	t.Setenv(sqlite.EnvStore, "sqlite:///x/y.db")
	if p, _ := sqlite.DefaultPath(); p != "/x/y.db" {
		t.Fatalf("sqlite URL: %q", p)
	}
	t.Setenv(sqlite.EnvStore, "postgres://db/aicred")
	if _, err := sqlite.DefaultPath(); aicred.KindOf(err) != aicred.ErrInvalid {
		t.Fatalf("postgres URL: %v", err)
	}
}

func TestMigrations(t *testing.T) {
	path := newPath(t)
	// Several processes' worth of opens at once on a fresh file.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			s, err := sqlite.Open(context.Background(), path)
			if err != nil {
				errs <- err
				return
			}
			errs <- s.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	db := rawDB(t, path)
	var n, v int
	if err := db.QueryRow("SELECT count(*), max(version) FROM schema_migrations").Scan(&n, &v); err != nil || n != migrationCount(t) || v != lastMigration(t) {
		t.Fatalf("schema_migrations: %d rows, version %d, %v", n, v, err)
	}
	// A store from a newer aicred is refused, not damaged.
	if _, err := db.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 'x')"); err != nil {
		t.Fatal(err)
	}
	_, err := sqlite.Open(context.Background(), path)
	if aicred.KindOf(err) != aicred.ErrInvalid {
		t.Fatalf("newer schema: %v", err)
	}
}

func TestUnavailable(t *testing.T) {
	dir := t.TempDir()
	// A directory where the file should be.
	if err := os.Mkdir(filepath.Join(dir, "isdir"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := sqlite.Open(context.Background(), filepath.Join(dir, "isdir"))
	if aicred.KindOf(err) != aicred.ErrUnavailable {
		t.Fatalf("directory: %v", err)
	}
	// A file where the directory should be.
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = sqlite.Open(context.Background(), filepath.Join(dir, "file", "aicred.db"))
	if aicred.KindOf(err) != aicred.ErrUnavailable {
		t.Fatalf("file as directory: %v", err)
	}
	// Not a database.
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("not a database "), 100), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = sqlite.Open(context.Background(), junk)
	if aicred.KindOf(err) != aicred.ErrUnavailable {
		t.Fatalf("junk file: %v", err)
	}
	_, err = sqlite.Open(context.Background(), "x.db?mode=ro")
	if aicred.KindOf(err) != aicred.ErrInvalid {
		t.Fatalf("query in path: %v", err)
	}

	// Locked by another writer for longer than the busy timeout: a clear
	// error and nothing written.
	path := newPath(t)
	s := openAt(t, path, sqlite.BusyTimeout(200*time.Millisecond))
	defer s.Close()
	db := rawDB(t, path)
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	sec := storetest.NewGen(1).Secret()
	start := time.Now()
	_, err = s.RecordSightings(context.Background(), []aicred.Observation{storetest.Observation(sec, "/r", "a", "", time.Now())})
	if aicred.KindOf(err) != aicred.ErrUnavailable {
		t.Fatalf("locked database: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("waited %v for a 200ms busy timeout", time.Since(start))
	}
	t.Logf("locked: %v", err)
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if cs, err := s.ListCredentials(context.Background(), aicred.CredentialFilter{}); err != nil || len(cs) != 0 {
		t.Fatalf("after a failed write: %d credentials, %v", len(cs), err)
	}
	if v, err := s.VerifyAudit(context.Background()); err != nil || !v.OK() || v.Records != 0 {
		t.Fatalf("after a failed write: %+v %v", v, err)
	}
	// And it works once the lock is gone.
	if _, err := s.RecordSightings(context.Background(), []aicred.Observation{storetest.Observation(sec, "/r", "a", "", time.Now())}); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentProcesses(t *testing.T) {
	path := newPath(t)
	const procs, rounds = 4, 15
	// The helpers start on a file that does not exist yet: they race to
	// create it and apply the migrations.
	var cmds []*exec.Cmd
	for i := range procs {
		cmds = append(cmds, startHelper(t, path, uint64(100+i), rounds))
	}
	s := openAt(t, path)
	defer s.Close()
	// This process writes too, from several goroutines.
	var wg sync.WaitGroup
	for w := range 3 {
		wg.Go(func() {
			g := storetest.NewGen(uint64(200 + w))
			for range rounds {
				if _, err := s.RecordSightings(context.Background(), g.Observations(20, 5, time.Now())); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatalf("helper: %v", err)
		}
	}
	creds, sightings := storetest.CheckConsistent(t, s)
	if want := procs*rounds*51 + 3*rounds*20; sightings != want {
		t.Fatalf("%d sightings, want %d", sightings, want)
	}
	v, _ := s.VerifyAudit(context.Background())
	t.Logf("%d processes + 3 goroutines: %d credentials, %d sightings, %d audit records, chain verifies", procs, creds, sightings, v.Records)
}

func TestSIGKILLMidWrite(t *testing.T) {
	path := newPath(t)
	var lastRecords int64
	for kill := range 4 {
		cmd := startHelper(t, path, uint64(300+kill), 0)
		// Let it write for a while, a different while each time.
		deadline := time.Now().Add(10 * time.Second)
		for {
			time.Sleep(time.Duration(50+40*kill) * time.Millisecond)
			if records := auditCount(t, path); records > lastRecords || time.Now().After(deadline) {
				break
			}
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("helper did not die by SIGKILL: %v", err)
		}
		s := openAt(t, path)
		creds, sightings := storetest.CheckConsistent(t, s)
		v, _ := s.VerifyAudit(context.Background())
		if v.Records <= lastRecords {
			t.Fatalf("kill %d: no progress (%d records)", kill, v.Records)
		}
		lastRecords = v.Records
		t.Logf("after kill %d: %d credentials, %d sightings, %d audit records, chain verifies", kill+1, creds, sightings, v.Records)
		s.Close()
	}
}

// auditCount reads how many audit records the file holds, 0 when it cannot
// be read yet.
func auditCount(t *testing.T, path string) int64 {
	if _, err := os.Stat(path); err != nil {
		return 0
	}
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(1000)&_pragma=query_only(1)")
	if err != nil {
		return 0
	}
	defer db.Close()
	var n int64
	if err := db.QueryRow("SELECT seq FROM audit_head").Scan(&n); err != nil {
		return 0
	}
	return n
}

func BenchmarkListCredentials(b *testing.B) {
	storetest.BenchmarkListCredentials(b, func(tb testing.TB) aicred.Store { return openAt(tb, newPath(tb)) })
}

func TestOpenSQLiteURL(t *testing.T) {
	path := newPath(t)
	s := openAt(t, "sqlite://"+path)
	defer s.Close()
	if s.Path() != path {
		t.Fatalf("path %q", s.Path())
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkPostureReport(b *testing.B) {
	storetest.BenchmarkPostureReport(b, func(tb testing.TB) aicred.Store { return openAt(tb, newPath(tb)) })
}

// TestRevocationsAcrossProcesses watches in this process while another
// process revokes: each revocation arrives, in order, within a second of
// its transaction.
func TestRevocationsAcrossProcesses(t *testing.T) {
	path := newPath(t)
	s := openAt(t, path)
	defer s.Close()
	type seen struct {
		r  aicred.Revocation
		at time.Time
	}
	got := make(chan seen, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := s.WatchRevocations(ctx, func(r aicred.Revocation) { got <- seen{r, time.Now()} }); err != nil {
		t.Fatal(err)
	}
	const rounds = 10
	cmd := startHelperMode(t, "revoke", path, 0, rounds)
	var worst time.Duration
	for i := range rounds {
		select {
		case d := <-got:
			if d.r.Seq != int64(i+1) || d.r.Value != fmt.Sprintf("role-%d", i) {
				t.Fatalf("delivery %d: %+v", i, d.r)
			}
			// At is when the other process's transaction began, so this
			// is an upper bound of the latency from its commit.
			lat := d.at.Sub(d.r.At)
			if lat > time.Second {
				t.Errorf("revocation %d arrived %v after it was made", d.r.Seq, lat)
			}
			worst = max(worst, lat)
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of %d revocations arrived", i, rounds)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	t.Logf("%d revocations from another process, worst latency %v", rounds, worst.Round(time.Millisecond))
}

func BenchmarkRevocationLatency(b *testing.B) {
	storetest.BenchmarkRevocationLatency(b, backend, sqlite.RevocationPollInterval)
}

func BenchmarkIssueGrant(b *testing.B) { storetest.BenchmarkIssueGrant(b, backend.Open) }

func BenchmarkLookupGrant(b *testing.B) { storetest.BenchmarkLookupGrant(b, backend.Open) }

func BenchmarkRecordUsage(b *testing.B) { storetest.BenchmarkRecordUsage(b, backend.Open) }

func BenchmarkSummarizeUsage(b *testing.B) { storetest.BenchmarkSummarizeUsage(b, backend.Open) }

// migrationCount is how many migration files there are (0001 to the last).
func migrationCount(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations: %v", err)
	}
	return len(files)
}

// lastMigration is the highest migration version: versions may skip
// numbers (migrations written on separate branches).
func lastMigration(t *testing.T) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("migrations", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations: %v", err)
	}
	last := 0
	for _, f := range files {
		var v int
		if _, err := fmt.Sscanf(filepath.Base(f), "%04d_", &v); err != nil {
			t.Fatalf("migration %s: %v", f, err)
		}
		last = max(last, v)
	}
	return last
}
