package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
)

// RecordSightings implements aicred.InventoryService.
func (s *Store) RecordSightings(ctx context.Context, obs []aicred.Observation) (aicred.RecordSummary, error) {
	var sum aicred.RecordSummary
	if len(obs) == 0 {
		return sum, nil
	}
	obs = slices.Clone(obs)
	now := time.Now()
	for i := range obs {
		if err := obs[i].Prepare(now); err != nil {
			return sum, err
		}
	}
	err := s.write(ctx, "record sightings", func(tx *sql.Tx, c *audit.Chain) error {
		sum = aicred.RecordSummary{}
		st, err := prepare(ctx, tx,
			`INSERT INTO credentials (fingerprint, provider, kind, capabilities, redacted, recorded_at, first_seen, last_seen)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (fingerprint) DO NOTHING`,
			`UPDATE credentials SET
				first_seen = CASE WHEN first_seen IS NULL OR first_seen > ?1 THEN ?1 ELSE first_seen END,
				last_seen = CASE WHEN last_seen IS NULL OR last_seen < ?1 THEN ?1 ELSE last_seen END,
				capabilities = CASE WHEN capabilities = '[]' THEN ?2 ELSE capabilities END,
				redacted = CASE WHEN redacted = '' THEN ?3 ELSE redacted END
			 WHERE fingerprint = ?4`,
			`INSERT INTO sightings (key, fingerprint, place, rule, origin, source, path, line, col, commit_id, author_date, locator, scan_id, seen_at, last_seen_at, author)
			 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`,
			`UPDATE sightings SET line = ?, col = ?, scan_id = ?,
				last_seen_at = CASE WHEN last_seen_at < ?4 THEN ?4 ELSE last_seen_at END
			 WHERE key = ?5`,
		)
		if err != nil {
			return err
		}
		defer closeAll(st)
		insCred, updCred, insSight, updSight := st[0], st[1], st[2], st[3]
		refreshScan, refreshed := "", 0
		for i := range obs {
			o := &obs[i]
			caps := capsJSON(o.Capabilities)
			seen := audit.FormatTime(o.SeenAt)
			res, err := insCred.ExecContext(ctx, o.Fingerprint, o.Provider, o.Kind, caps, o.Redacted, audit.FormatTime(c.Now), seen, seen)
			if err != nil {
				return fmt.Errorf("credential %s: %w", o.Fingerprint.Short(), err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				sum.NewCredentials++
				c.Append(audit.Discovered(o))
			} else if _, err := updCred.ExecContext(ctx, seen, caps, o.Redacted, o.Fingerprint); err != nil {
				return fmt.Errorf("credential %s: %w", o.Fingerprint.Short(), err)
			}
			key := o.Key()
			res, err = insSight.ExecContext(ctx, key, o.Fingerprint, o.Place(), o.Rule, o.Origin, string(o.Source), o.Path,
				o.Line, o.Column, o.Commit, ts(o.AuthorDate), o.Locator, o.ScanID, seen, seen, o.Author)
			if err != nil {
				return fmt.Errorf("sighting of %s: %w", o.Fingerprint.Short(), err)
			}
			if n, _ := res.RowsAffected(); n == 1 {
				sum.NewSightings++
				c.Append(audit.Sighted(&o.Sighting))
				continue
			}
			if _, err := updSight.ExecContext(ctx, o.Line, o.Column, o.ScanID, seen, key); err != nil {
				return fmt.Errorf("sighting of %s: %w", o.Fingerprint.Short(), err)
			}
			if refreshed == 0 {
				refreshScan = o.ScanID
			} else if refreshScan != o.ScanID {
				refreshScan = ""
			}
			refreshed++
		}
		sum.Refreshed = refreshed
		if refreshed > 0 {
			c.Append(audit.Refreshed(refreshed, refreshScan))
		}
		return nil
	})
	if err != nil {
		return aicred.RecordSummary{}, err
	}
	return sum, nil
}

func prepare(ctx context.Context, tx *sql.Tx, queries ...string) ([]*sql.Stmt, error) {
	var out []*sql.Stmt
	for _, q := range queries {
		st, err := tx.PrepareContext(ctx, q)
		if err != nil {
			closeAll(out)
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

func closeAll(st []*sql.Stmt) {
	for _, s := range st {
		s.Close()
	}
}

func capsJSON(caps []aicred.Capability) string {
	if len(caps) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(caps)
	return string(b)
}

// RecordLiveness implements aicred.InventoryService.
func (s *Store) RecordLiveness(ctx context.Context, checks []aicred.LivenessCheck) error {
	if len(checks) == 0 {
		return nil
	}
	checks = slices.Clone(checks)
	now := time.Now()
	for i := range checks {
		if err := checks[i].Prepare(now); err != nil {
			return err
		}
	}
	return s.write(ctx, "record liveness", func(tx *sql.Tx, c *audit.Chain) error {
		for i := range checks {
			k := &checks[i]
			at := audit.FormatTime(k.At)
			res, err := tx.ExecContext(ctx, `UPDATE credentials SET
					verification = CASE WHEN verified_at IS NULL OR verified_at <= ?1 THEN ?2 ELSE verification END,
					verified_at = CASE WHEN verified_at IS NULL OR verified_at <= ?1 THEN ?1 ELSE verified_at END
				WHERE fingerprint = ?3`, at, string(k.Result), k.Fingerprint)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return aicred.Errorf(aicred.ErrNotFound, "credential %s is not in the inventory", k.Fingerprint.Short())
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO liveness_checks (fingerprint, checked_at, result, detail) VALUES (?, ?, ?, ?)`,
				k.Fingerprint, at, string(k.Result), k.Detail); err != nil {
				return err
			}
			c.Append(audit.Checked(k))
		}
		return nil
	})
}

// credentialColumns reads a credential row and its derived facts.
const credentialColumns = `c.fingerprint, c.provider, c.kind, c.capabilities, c.redacted, c.recorded_at,
	c.first_seen, c.last_seen, c.verification, c.verified_at, c.owner, c.created_at, c.rotated_at, c.expires_at,
	(SELECT count(*) FROM sightings s WHERE s.fingerprint = c.fingerprint),
	(SELECT count(DISTINCT s.place) FROM sightings s WHERE s.fingerprint = c.fingerprint),
	EXISTS (SELECT 1 FROM held_credentials h WHERE h.fingerprint = c.fingerprint),
	(SELECT json_group_array(e.environment) FROM credential_environments e WHERE e.fingerprint = c.fingerprint),
	(SELECT json_group_array(w.workload) FROM credential_workloads w WHERE w.fingerprint = c.fingerprint)`

func scanCredential(row interface{ Scan(...any) error }) (*aicred.Credential, error) {
	var (
		c                            aicred.Credential
		caps, recorded, verification string
		first, last, verified        sql.NullString
		created, rotated, expires    sql.NullString
		envs, workloads              string
		held                         bool
	)
	if err := row.Scan(&c.Fingerprint, &c.Provider, &c.Kind, &caps, &c.Redacted, &recorded,
		&first, &last, &verification, &verified, &c.Owner, &created, &rotated, &expires,
		&c.SightingCount, &c.Sprawl, &held, &envs, &workloads); err != nil {
		return nil, err
	}
	c.Verification = aicred.Verification(verification)
	c.Held = held
	var err error
	if err = json.Unmarshal([]byte(caps), &c.Capabilities); err != nil {
		return nil, fmt.Errorf("credential %s: capabilities: %w", c.Fingerprint.Short(), err)
	}
	if c.Capabilities == nil {
		c.Capabilities = []aicred.Capability{}
	}
	for _, set := range []struct {
		src string
		dst *[]string
	}{{envs, &c.Environments}, {workloads, &c.Workloads}} {
		if err := json.Unmarshal([]byte(set.src), set.dst); err != nil {
			return nil, fmt.Errorf("credential %s: %w", c.Fingerprint.Short(), err)
		}
		if len(*set.dst) == 0 {
			*set.dst = nil
		}
		slices.Sort(*set.dst)
	}
	if c.RecordedAt, err = audit.ParseTime(recorded); err != nil {
		return nil, err
	}
	for _, t := range []struct {
		src sql.NullString
		dst *time.Time
	}{{first, &c.FirstSeen}, {last, &c.LastSeen}, {verified, &c.VerifiedAt}, {created, &c.CreatedAt}, {rotated, &c.RotatedAt}, {expires, &c.ExpiresAt}} {
		if *t.dst, err = parseTS(t.src); err != nil {
			return nil, err
		}
	}
	return &c, nil
}

// checkFilter rejects filters no credential could match for a reason the
// caller should hear about.
func checkFilter(f *aicred.CredentialFilter) error {
	switch {
	case f.Limit < 0 || f.Offset < 0:
		return aicred.Errorf(aicred.ErrInvalid, "credential filter: negative limit or offset")
	case f.Capability != "" && !f.Capability.Valid():
		return aicred.Errorf(aicred.ErrInvalid, "credential filter: unknown capability %q", f.Capability)
	}
	switch f.Verification {
	case "", aicred.NotChecked, aicred.Live, aicred.Dead, aicred.Unknown, aicred.LiveNoPermission:
	default:
		return aicred.Errorf(aicred.ErrInvalid, "credential filter: unknown verification %q", f.Verification)
	}
	return nil
}

// credentialQuery builds the query selecting the credentials that match f.
func credentialQuery(f aicred.CredentialFilter) (string, []any, error) {
	if err := checkFilter(&f); err != nil {
		return "", nil, err
	}
	var where []string
	var args []any
	add := func(cond string, arg ...any) {
		where = append(where, cond)
		args = append(args, arg...)
	}
	if f.Provider != "" {
		add("c.provider = ?", f.Provider)
	}
	if f.Kind != "" {
		add("c.kind = ?", f.Kind)
	}
	if f.Owner != "" {
		add("c.owner = ?", f.Owner)
	}
	if f.Environment != "" {
		add("EXISTS (SELECT 1 FROM credential_environments e WHERE e.fingerprint = c.fingerprint AND e.environment = ?)", f.Environment)
	}
	if f.Capability != "" {
		add("EXISTS (SELECT 1 FROM json_each(c.capabilities) j WHERE j.value = ?)", string(f.Capability))
	}
	if f.Verification != "" {
		add("c.verification = ?", string(f.Verification))
	}
	if f.Held != nil {
		not := ""
		if !*f.Held {
			not = "NOT "
		}
		add(not + "EXISTS (SELECT 1 FROM held_credentials h WHERE h.fingerprint = c.fingerprint)")
	}
	if !f.SeenSince.IsZero() {
		add("c.last_seen >= ?", audit.FormatTime(f.SeenSince))
	}
	q := "SELECT " + credentialColumns + " FROM credentials c"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY c.provider, c.kind, c.fingerprint"
	if f.Limit > 0 || f.Offset > 0 {
		limit := f.Limit
		if limit == 0 {
			limit = -1
		}
		q += " LIMIT ? OFFSET ?"
		args = append(args, limit, f.Offset)
	}
	return q, args, nil
}

// ListCredentials implements aicred.InventoryService.
func (s *Store) ListCredentials(ctx context.Context, f aicred.CredentialFilter) ([]aicred.Credential, error) {
	q, args, err := credentialQuery(f)
	if err != nil {
		return nil, err
	}
	var out []aicred.Credential
	err = s.read(ctx, "list credentials", func(tx *sql.Tx) error {
		var err error
		out, err = queryCredentials(ctx, tx, q, args)
		return err
	})
	return out, err
}

func queryCredentials(ctx context.Context, q querier, query string, args []any) ([]aicred.Credential, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []aicred.Credential
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *c)
	}
	return out, rows.Err()
}

// ListCredentialDetails implements aicred.InventoryService: the matching
// credentials and, in three queries in one read transaction, their
// sightings and liveness histories.
func (s *Store) ListCredentialDetails(ctx context.Context, f aicred.CredentialFilter) ([]aicred.CredentialDetail, error) {
	q, args, err := credentialQuery(f)
	if err != nil {
		return nil, err
	}
	var out []aicred.CredentialDetail
	err = s.read(ctx, "list credential details", func(tx *sql.Tx) error {
		creds, err := queryCredentials(ctx, tx, q, args)
		if err != nil {
			return err
		}
		out = make([]aicred.CredentialDetail, len(creds))
		index := make(map[aicred.Fingerprint]*aicred.CredentialDetail, len(creds))
		for i, c := range creds {
			out[i] = aicred.CredentialDetail{Credential: c, Sightings: []aicred.Sighting{}, Liveness: []aicred.LivenessCheck{}}
			index[c.Fingerprint] = &out[i]
		}
		if len(out) == 0 {
			return nil
		}
		return readHistories(ctx, tx, "", nil, index)
	})
	return out, err
}

// readHistories appends sightings and liveness checks to the details in
// index, for every fingerprint (where is empty) or those matching where.
func readHistories(ctx context.Context, q querier, where string, args []any, index map[aicred.Fingerprint]*aicred.CredentialDetail) error {
	rows, err := q.QueryContext(ctx, `SELECT fingerprint, rule, origin, source, path, line, col, commit_id, author_date, locator, scan_id, seen_at, last_seen_at, author
		FROM sightings `+where+` ORDER BY fingerprint, seen_at, id`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var sg aicred.Sighting
		var source, seen, last string
		var author sql.NullString
		if err := rows.Scan(&sg.Fingerprint, &sg.Rule, &sg.Origin, &source, &sg.Path, &sg.Line, &sg.Column, &sg.Commit, &author,
			&sg.Locator, &sg.ScanID, &seen, &last, &sg.Author); err != nil {
			return err
		}
		d := index[sg.Fingerprint]
		if d == nil {
			continue
		}
		sg.Source = aicred.SourceKind(source)
		if sg.AuthorDate, err = parseTS(author); err != nil {
			return err
		}
		if sg.SeenAt, err = audit.ParseTime(seen); err != nil {
			return err
		}
		if sg.LastSeenAt, err = audit.ParseTime(last); err != nil {
			return err
		}
		d.Sightings = append(d.Sightings, sg)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()
	rows, err = q.QueryContext(ctx, `SELECT fingerprint, checked_at, result, detail FROM liveness_checks `+where+` ORDER BY fingerprint, checked_at, id`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var lc aicred.LivenessCheck
		var at, result string
		if err := rows.Scan(&lc.Fingerprint, &at, &result, &lc.Detail); err != nil {
			return err
		}
		d := index[lc.Fingerprint]
		if d == nil {
			continue
		}
		lc.Result = aicred.Verification(result)
		if lc.At, err = audit.ParseTime(at); err != nil {
			return err
		}
		d.Liveness = append(d.Liveness, lc)
	}
	return rows.Err()
}

// GetCredential implements aicred.InventoryService.
func (s *Store) GetCredential(ctx context.Context, fp aicred.Fingerprint) (*aicred.CredentialDetail, error) {
	if !fp.Valid() {
		return nil, aicred.Errorf(aicred.ErrInvalid, "malformed fingerprint %q", fp)
	}
	var d *aicred.CredentialDetail
	err := s.read(ctx, "get credential "+fp.Short(), func(tx *sql.Tx) error {
		var err error
		d, err = getDetail(ctx, tx, fp)
		return err
	})
	return d, err
}

func getCredential(ctx context.Context, q querier, fp aicred.Fingerprint) (*aicred.Credential, error) {
	c, err := scanCredential(q.QueryRowContext(ctx, "SELECT "+credentialColumns+" FROM credentials c WHERE c.fingerprint = ?", fp))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, aicred.Errorf(aicred.ErrNotFound, "credential %s is not in the inventory", fp.Short())
	}
	return c, err
}

func getDetail(ctx context.Context, q querier, fp aicred.Fingerprint) (*aicred.CredentialDetail, error) {
	c, err := getCredential(ctx, q, fp)
	if err != nil {
		return nil, err
	}
	d := &aicred.CredentialDetail{Credential: *c, Sightings: []aicred.Sighting{}, Liveness: []aicred.LivenessCheck{}}
	err = readHistories(ctx, q, "WHERE fingerprint = ?", []any{fp}, map[aicred.Fingerprint]*aicred.CredentialDetail{fp: d})
	return d, err
}

// SetCredentialMeta implements aicred.InventoryService.
func (s *Store) SetCredentialMeta(ctx context.Context, fp aicred.Fingerprint, u aicred.CredentialUpdate) (*aicred.Credential, error) {
	if !fp.Valid() {
		return nil, aicred.Errorf(aicred.ErrInvalid, "malformed fingerprint %q", fp)
	}
	if err := u.Prepare(); err != nil {
		return nil, err
	}
	var out *aicred.Credential
	err := s.write(ctx, "update credential "+fp.Short(), func(tx *sql.Tx, c *audit.Chain) error {
		if _, err := getCredential(ctx, tx, fp); err != nil {
			return err
		}
		set := func(col string, v any) error {
			_, err := tx.ExecContext(ctx, "UPDATE credentials SET "+col+" = ? WHERE fingerprint = ?", v, fp)
			return err
		}
		if u.Owner != nil {
			if err := set("owner", *u.Owner); err != nil {
				return err
			}
		}
		for col, t := range map[string]*time.Time{"created_at": u.CreatedAt, "rotated_at": u.RotatedAt, "expires_at": u.ExpiresAt} {
			if t != nil {
				if err := set(col, ts(*t)); err != nil {
					return err
				}
			}
		}
		for _, sset := range []struct {
			table, col string
			vals       *[]string
		}{{"credential_environments", "environment", u.Environments}, {"credential_workloads", "workload", u.Workloads}} {
			if sset.vals == nil {
				continue
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM "+sset.table+" WHERE fingerprint = ?", fp); err != nil {
				return err
			}
			for _, v := range *sset.vals {
				if _, err := tx.ExecContext(ctx, "INSERT INTO "+sset.table+" (fingerprint, "+sset.col+") VALUES (?, ?)", fp, v); err != nil {
					return err
				}
			}
		}
		c.Append(audit.Updated(fp, &u))
		var err error
		out, err = getCredential(ctx, tx, fp)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
