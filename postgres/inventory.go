package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/audit"
)

// RecordSightings implements aicred.InventoryService. The batch goes to the
// database in two statements (credentials, then sightings) whatever its
// size; the audit events are then derived in the order of the
// observations, as if they had been recorded one by one.
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

	// One row per credential: the first observation's facts, and the span
	// of the batch's sightings.
	type credRow struct {
		o           *aicred.Observation
		first, last time.Time
	}
	creds := map[aicred.Fingerprint]*credRow{}
	var credOrder []aicred.Fingerprint
	// One row per sighting: the first observation's place and first seen,
	// the last one's line, column and scan, the latest last seen.
	type sightRow struct {
		first, last *aicred.Observation
		lastSeen    time.Time
	}
	sights := map[string]*sightRow{}
	var sightOrder []string
	keys := make([]string, len(obs))
	for i := range obs {
		o := &obs[i]
		if c, ok := creds[o.Fingerprint]; ok {
			c.first, c.last = minTime(c.first, o.SeenAt), maxTime(c.last, o.SeenAt)
		} else {
			creds[o.Fingerprint] = &credRow{o, o.SeenAt, o.SeenAt}
			credOrder = append(credOrder, o.Fingerprint)
		}
		keys[i] = o.Key()
		if r, ok := sights[keys[i]]; ok {
			r.last, r.lastSeen = o, maxTime(r.lastSeen, o.SeenAt)
		} else {
			sights[keys[i]] = &sightRow{o, o, o.SeenAt}
			sightOrder = append(sightOrder, keys[i])
		}
	}

	err := s.write(ctx, "record sightings", func(tx pgx.Tx, c *audit.Chain) error {
		sum = aicred.RecordSummary{}
		n := len(credOrder)
		fp, provider, kind, caps, redacted := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		first, last := make([]time.Time, n), make([]time.Time, n)
		for i, f := range credOrder {
			r := creds[f]
			fp[i], provider[i], kind[i], redacted[i] = string(f), r.o.Provider, r.o.Kind, r.o.Redacted
			caps[i] = capsText(r.o.Capabilities)
			first[i], last[i] = r.first, r.last
		}
		rows, err := tx.Query(ctx, `INSERT INTO credentials AS c (fingerprint, provider, kind, capabilities, redacted, recorded_at, first_seen, last_seen)
			SELECT f, p, k, CASE WHEN cp = '' THEN '{}'::text[] ELSE string_to_array(cp, ',') END, r, $8, fs, ls
			FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::timestamptz[]) AS u (f, p, k, cp, r, fs, ls)
			ON CONFLICT (fingerprint) DO UPDATE SET
				first_seen = LEAST(c.first_seen, excluded.first_seen),
				last_seen = GREATEST(c.last_seen, excluded.last_seen),
				capabilities = CASE WHEN c.capabilities = '{}' THEN excluded.capabilities ELSE c.capabilities END,
				redacted = CASE WHEN c.redacted = '' THEN excluded.redacted ELSE c.redacted END
			RETURNING fingerprint, xmax = 0`,
			fp, provider, kind, caps, redacted, first, last, c.Now)
		if err != nil {
			return err
		}
		newCred := map[aicred.Fingerprint]bool{}
		if err := collectInserted(rows, func(k string) { newCred[aicred.Fingerprint(k)] = true }); err != nil {
			return fmt.Errorf("credentials: %w", err)
		}

		n = len(sightOrder)
		var (
			key, sfp, place, rule, origin, source, path = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			commit, locator, scan, authorName           = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			line, col                                   = make([]int32, n), make([]int32, n)
			author                                      = make([]pgtype.Timestamptz, n)
			seen, lastSeen                              = make([]time.Time, n), make([]time.Time, n)
		)
		for i, k := range sightOrder {
			r := sights[k]
			f, l := r.first, r.last
			key[i], sfp[i], place[i], rule[i], origin[i], source[i], path[i] = k, string(f.Fingerprint), f.Place(), f.Rule, f.Origin, string(f.Source), f.Path
			commit[i], locator[i], scan[i], authorName[i] = f.Commit, f.Locator, l.ScanID, f.Author
			line[i], col[i] = int32(l.Line), int32(l.Column)
			author[i], seen[i], lastSeen[i] = ts(f.AuthorDate), f.SeenAt, r.lastSeen
		}
		rows, err = tx.Query(ctx, `INSERT INTO sightings AS s (key, fingerprint, place, rule, origin, source, path, line, col, commit_id, author_date, locator, scan_id, seen_at, last_seen_at, author)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::int[],
				$10::text[], $11::timestamptz[], $12::text[], $13::text[], $14::timestamptz[], $15::timestamptz[], $16::text[])
			ON CONFLICT (key) DO UPDATE SET
				line = excluded.line, col = excluded.col, scan_id = excluded.scan_id,
				last_seen_at = GREATEST(s.last_seen_at, excluded.last_seen_at)
			RETURNING key, xmax = 0`,
			key, sfp, place, rule, origin, source, path, line, col, commit, author, locator, scan, seen, lastSeen, authorName)
		if err != nil {
			return err
		}
		newSight := map[string]bool{}
		if err := collectInserted(rows, func(k string) { newSight[k] = true }); err != nil {
			return fmt.Errorf("sightings: %w", err)
		}

		// Audit, in observation order: the first observation of a new
		// credential discovers it, the first of a new sighting records it,
		// every other one refreshes.
		refreshScan := ""
		for i := range obs {
			o := &obs[i]
			if newCred[o.Fingerprint] {
				delete(newCred, o.Fingerprint)
				sum.NewCredentials++
				c.Append(audit.Discovered(o))
			}
			if newSight[keys[i]] {
				delete(newSight, keys[i])
				sum.NewSightings++
				c.Append(audit.Sighted(&o.Sighting))
				continue
			}
			if sum.Refreshed == 0 {
				refreshScan = o.ScanID
			} else if refreshScan != o.ScanID {
				refreshScan = ""
			}
			sum.Refreshed++
		}
		if sum.Refreshed > 0 {
			c.Append(audit.Refreshed(sum.Refreshed, refreshScan))
		}
		return nil
	})
	if err != nil {
		return aicred.RecordSummary{}, err
	}
	return sum, nil
}

// collectInserted reads (key, inserted) rows and calls fn for the inserted.
func collectInserted(rows pgx.Rows, fn func(string)) error {
	defer rows.Close()
	for rows.Next() {
		var k string
		var inserted bool
		if err := rows.Scan(&k, &inserted); err != nil {
			return err
		}
		if inserted {
			fn(k)
		}
	}
	return rows.Err()
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// capsText joins capabilities for string_to_array; they are known tags
// without commas (Observation.Prepare checks).
func capsText(caps []aicred.Capability) string {
	parts := make([]string, len(caps))
	for i, c := range caps {
		parts[i] = string(c)
	}
	return strings.Join(parts, ",")
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
	return s.write(ctx, "record liveness", func(tx pgx.Tx, c *audit.Chain) error {
		for i := range checks {
			k := &checks[i]
			tag, err := tx.Exec(ctx, `UPDATE credentials SET
					verification = CASE WHEN verified_at IS NULL OR verified_at <= $1 THEN $2 ELSE verification END,
					verified_at = CASE WHEN verified_at IS NULL OR verified_at <= $1 THEN $1 ELSE verified_at END
				WHERE fingerprint = $3`, k.At, string(k.Result), string(k.Fingerprint))
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return aicred.Errorf(aicred.ErrNotFound, "credential %s is not in the inventory", k.Fingerprint.Short())
			}
			if _, err := tx.Exec(ctx, `INSERT INTO liveness_checks (fingerprint, checked_at, result, detail) VALUES ($1, $2, $3, $4)`,
				string(k.Fingerprint), k.At, string(k.Result), k.Detail); err != nil {
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
	ARRAY(SELECT e.environment FROM credential_environments e WHERE e.fingerprint = c.fingerprint ORDER BY e.environment),
	ARRAY(SELECT w.workload FROM credential_workloads w WHERE w.fingerprint = c.fingerprint ORDER BY w.workload)`

func scanCredential(row pgx.Row) (*aicred.Credential, error) {
	var (
		c                         aicred.Credential
		fp, verification          string
		caps                      []string
		recorded                  time.Time
		first, last, verified     pgtype.Timestamptz
		created, rotated, expires pgtype.Timestamptz
		sightings, sprawl         int64
	)
	if err := row.Scan(&fp, &c.Provider, &c.Kind, &caps, &c.Redacted, &recorded,
		&first, &last, &verification, &verified, &c.Owner, &created, &rotated, &expires,
		&sightings, &sprawl, &c.Held, &c.Environments, &c.Workloads); err != nil {
		return nil, err
	}
	c.Fingerprint, c.Verification = aicred.Fingerprint(fp), aicred.Verification(verification)
	c.SightingCount, c.Sprawl = int(sightings), int(sprawl)
	c.Capabilities = make([]aicred.Capability, len(caps))
	for i, cp := range caps {
		c.Capabilities[i] = aicred.Capability(cp)
	}
	if len(c.Environments) == 0 {
		c.Environments = nil
	}
	if len(c.Workloads) == 0 {
		c.Workloads = nil
	}
	c.RecordedAt = aicred.StoreTime(recorded)
	c.FirstSeen, c.LastSeen, c.VerifiedAt = fromTS(first), fromTS(last), fromTS(verified)
	c.CreatedAt, c.RotatedAt, c.ExpiresAt = fromTS(created), fromTS(rotated), fromTS(expires)
	return &c, nil
}

// checkFilter rejects filters the caller should hear about.
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

// ListCredentials implements aicred.InventoryService.
func (s *Store) ListCredentials(ctx context.Context, f aicred.CredentialFilter) ([]aicred.Credential, error) {
	q, args, err := credentialQuery(f)
	if err != nil {
		return nil, err
	}
	var out []aicred.Credential
	err = s.read(ctx, "list credentials", func(tx pgx.Tx) error {
		var err error
		out, err = queryCredentials(ctx, tx, q, args)
		return err
	})
	return out, err
}

// credentialQuery builds the query selecting the credentials that match f.
func credentialQuery(f aicred.CredentialFilter) (string, []any, error) {
	if err := checkFilter(&f); err != nil {
		return "", nil, err
	}
	var where []string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		where = append(where, strings.ReplaceAll(cond, "$?", fmt.Sprintf("$%d", len(args))))
	}
	if f.Provider != "" {
		add("c.provider = $?", f.Provider)
	}
	if f.Kind != "" {
		add("c.kind = $?", f.Kind)
	}
	if f.Owner != "" {
		add("c.owner = $?", f.Owner)
	}
	if f.Environment != "" {
		add("EXISTS (SELECT 1 FROM credential_environments e WHERE e.fingerprint = c.fingerprint AND e.environment = $?)", f.Environment)
	}
	if f.Capability != "" {
		add("$? = ANY (c.capabilities)", string(f.Capability))
	}
	if f.Verification != "" {
		add("c.verification = $?", string(f.Verification))
	}
	if f.Held != nil {
		not := ""
		if !*f.Held {
			not = "NOT "
		}
		where = append(where, not+"EXISTS (SELECT 1 FROM held_credentials h WHERE h.fingerprint = c.fingerprint)")
	}
	if !f.SeenSince.IsZero() {
		add("c.last_seen >= $?", f.SeenSince)
	}
	q := "SELECT " + credentialColumns + " FROM credentials c"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY c.provider COLLATE \"C\", c.kind COLLATE \"C\", c.fingerprint COLLATE \"C\""
	if f.Limit > 0 {
		args = append(args, f.Limit)
		q += fmt.Sprintf(" LIMIT $%d", len(args))
	}
	if f.Offset > 0 {
		args = append(args, f.Offset)
		q += fmt.Sprintf(" OFFSET $%d", len(args))
	}
	return q, args, nil
}

func queryCredentials(ctx context.Context, tx pgx.Tx, q string, args []any) ([]aicred.Credential, error) {
	rows, err := tx.Query(ctx, q, args...)
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
// credentials and their sightings and liveness histories, in three queries
// in one repeatable-read transaction.
func (s *Store) ListCredentialDetails(ctx context.Context, f aicred.CredentialFilter) ([]aicred.CredentialDetail, error) {
	q, args, err := credentialQuery(f)
	if err != nil {
		return nil, err
	}
	var out []aicred.CredentialDetail
	err = s.read(ctx, "list credential details", func(tx pgx.Tx) error {
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
func readHistories(ctx context.Context, tx pgx.Tx, where string, args []any, index map[aicred.Fingerprint]*aicred.CredentialDetail) error {
	rows, err := tx.Query(ctx, `SELECT fingerprint, rule, origin, source, path, line, col, commit_id, author_date, locator, scan_id, seen_at, last_seen_at, author
		FROM sightings `+where+` ORDER BY fingerprint COLLATE "C", seen_at, id`, args...)
	if err != nil {
		return err
	}
	for rows.Next() {
		var sg aicred.Sighting
		var fp, source string
		var line, col int32
		var author pgtype.Timestamptz
		var seen, last time.Time
		if err := rows.Scan(&fp, &sg.Rule, &sg.Origin, &source, &sg.Path, &line, &col, &sg.Commit, &author,
			&sg.Locator, &sg.ScanID, &seen, &last, &sg.Author); err != nil {
			rows.Close()
			return err
		}
		sg.Fingerprint = aicred.Fingerprint(fp)
		d := index[sg.Fingerprint]
		if d == nil {
			continue
		}
		sg.Source, sg.Line, sg.Column = aicred.SourceKind(source), int(line), int(col)
		sg.AuthorDate, sg.SeenAt, sg.LastSeenAt = fromTS(author), aicred.StoreTime(seen), aicred.StoreTime(last)
		d.Sightings = append(d.Sightings, sg)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	rows, err = tx.Query(ctx, `SELECT fingerprint, checked_at, result, detail FROM liveness_checks `+where+` ORDER BY fingerprint COLLATE "C", checked_at, id`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var lc aicred.LivenessCheck
		var fp, result string
		var at time.Time
		if err := rows.Scan(&fp, &at, &result, &lc.Detail); err != nil {
			return err
		}
		lc.Fingerprint = aicred.Fingerprint(fp)
		d := index[lc.Fingerprint]
		if d == nil {
			continue
		}
		lc.At, lc.Result = aicred.StoreTime(at), aicred.Verification(result)
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
	err := s.read(ctx, "get credential "+fp.Short(), func(tx pgx.Tx) error {
		var err error
		d, err = getDetail(ctx, tx, fp)
		return err
	})
	return d, err
}

func getCredential(ctx context.Context, tx pgx.Tx, fp aicred.Fingerprint) (*aicred.Credential, error) {
	c, err := scanCredential(tx.QueryRow(ctx, "SELECT "+credentialColumns+" FROM credentials c WHERE c.fingerprint = $1", string(fp)))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, aicred.Errorf(aicred.ErrNotFound, "credential %s is not in the inventory", fp.Short())
	}
	return c, err
}

func getDetail(ctx context.Context, tx pgx.Tx, fp aicred.Fingerprint) (*aicred.CredentialDetail, error) {
	c, err := getCredential(ctx, tx, fp)
	if err != nil {
		return nil, err
	}
	d := &aicred.CredentialDetail{Credential: *c, Sightings: []aicred.Sighting{}, Liveness: []aicred.LivenessCheck{}}
	err = readHistories(ctx, tx, "WHERE fingerprint = $1", []any{string(fp)}, map[aicred.Fingerprint]*aicred.CredentialDetail{fp: d})
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
	err := s.write(ctx, "update credential "+fp.Short(), func(tx pgx.Tx, c *audit.Chain) error {
		if _, err := getCredential(ctx, tx, fp); err != nil {
			return err
		}
		set := func(col string, v any) error {
			_, err := tx.Exec(ctx, "UPDATE credentials SET "+col+" = $1 WHERE fingerprint = $2", v, string(fp))
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
			if _, err := tx.Exec(ctx, "DELETE FROM "+sset.table+" WHERE fingerprint = $1", string(fp)); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "INSERT INTO "+sset.table+" (fingerprint, "+sset.col+") SELECT $1, v FROM unnest($2::text[]) AS u (v)",
				string(fp), *sset.vals); err != nil {
				return err
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
