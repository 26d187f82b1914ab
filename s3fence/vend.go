package s3fence

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
)

// ProcessCredentials is the JSON an AWS credential_process prints
// (Version 1); AWS SDKs and the CLI refresh before Expiration.
type ProcessCredentials struct {
	Version         int    `json:"Version"`
	AccessKeyID     string `json:"AccessKeyId"`
	SecretAccessKey string `json:"SecretAccessKey"`
	SessionToken    string `json:"SessionToken,omitempty"`
	Expiration      string `json:"Expiration"`
}

// STS bounds of AssumeRole.
const (
	MinVendDuration = 15 * time.Minute
	MaxVendDuration = 12 * time.Hour
	// maxSessionPolicy is STS's limit on an inline session policy.
	maxSessionPolicy = 2048
)

// bearerGrant authenticates the aicred workload token of r.
func (f *Fence) bearerGrant(r *http.Request) (*aicred.Grant, string, error) {
	v := r.Header.Get("Authorization")
	if len(v) < 7 || !strings.EqualFold(v[:7], "Bearer ") {
		return nil, "", aicred.Errorf(aicred.ErrUnauthorized, "an aicred workload token is required (Authorization: Bearer)")
	}
	tok := strings.TrimSpace(v[7:])
	g, err := broker.ValidateToken(r.Context(), f.cfg.Tokens, tok, f.cfg.Now())
	if err != nil {
		return nil, "", err
	}
	return g, aicred.HashToken(tok), nil
}

func jsonError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": msg})
}

func statusOf(err error) (int, string) {
	switch aicred.KindOf(err) {
	case aicred.ErrUnauthorized:
		return http.StatusUnauthorized, "invalid_token"
	case aicred.ErrNotFound:
		return http.StatusNotFound, "not_found"
	case aicred.ErrInvalid:
		return http.StatusBadRequest, "invalid_request"
	}
	return http.StatusInternalServerError, "server_error"
}

// Credentials serves POST: the fence key pair of the presented token, in
// the credential_process shape, expiring with the token.
func (f *Fence) Credentials() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g, hash, err := f.bearerGrant(r)
		if err != nil {
			st, code := statusOf(err)
			jsonError(w, st, code, "s3 credentials: "+err.Error())
			return
		}
		role, ok := f.cfg.Roles(g.Role)
		if !ok || len(role.Storage) == 0 {
			jsonError(w, http.StatusForbidden, "access_denied", "s3 credentials: the token's role has no storage scope")
			return
		}
		id, secret, err := f.cfg.Keys.Pair(hash)
		if err != nil {
			jsonError(w, http.StatusInternalServerError, "server_error", "s3 credentials: cannot derive the key pair")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(ProcessCredentials{Version: 1, AccessKeyID: id, SecretAccessKey: secret,
			Expiration: g.ExpiresAt.UTC().Format(time.RFC3339)})
	})
}

// Vend serves POST ?store=NAME: temporary AWS credentials from STS
// AssumeRole with a session policy limited to the role's scopes on that
// store, lasting the token's remaining life (at least STS's 15 minutes),
// with the workload as source identity and session tags.
func (f *Fence) Vend() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g, _, err := f.bearerGrant(r)
		if err != nil {
			st, code := statusOf(err)
			jsonError(w, st, code, "s3 vend: "+err.Error())
			return
		}
		name := r.URL.Query().Get("store")
		s := f.stores[name]
		if s == nil || s.RoleARN == "" {
			jsonError(w, http.StatusNotFound, "not_found", "s3 vend: no store by that name vends credentials")
			return
		}
		role, ok := f.cfg.Roles(g.Role)
		if !ok {
			jsonError(w, http.StatusForbidden, "access_denied", "s3 vend: the token's role is gone")
			return
		}
		policy, err := SessionPolicy(role, name)
		if err != nil {
			jsonError(w, http.StatusForbidden, "access_denied", "s3 vend: "+err.Error())
			return
		}
		pc, err := f.assumeRole(r, s, g, policy)
		if err != nil {
			f.cfg.Log.Warn("s3 vend: AssumeRole failed", "store", name, "token_id", g.ID, "err", err)
			jsonError(w, http.StatusBadGateway, "upstream_error", "s3 vend: STS refused or did not answer")
			return
		}
		rec := aicred.UsageRecord{Time: f.cfg.Now(), TokenID: g.ID, CredentialID: s.Credential, Workload: g.Issuer + " " + g.Subject,
			Role: g.Role, Environment: g.Environment, Provider: Provider, Model: name, Operation: "AssumeRole",
			Status: http.StatusOK, Outcome: aicred.OutcomeOK}
		if f.cfg.Usage != nil {
			if err := f.cfg.Usage.RecordUsage(r.Context(), rec); err != nil {
				f.cfg.Log.Error("s3 vend: usage not recorded", "token_id", g.ID, "err", err)
			}
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(pc)
	})
}

func (f *Fence) assumeRole(r *http.Request, s *store, g *aicred.Grant, policy string) (*ProcessCredentials, error) {
	creds, err := f.heldKey(r.Context(), s.Credential)
	if err != nil {
		return nil, err
	}
	endpoint := s.STSEndpoint
	if endpoint == "" {
		endpoint = "https://sts." + s.Region + ".amazonaws.com"
	}
	client := sts.New(sts.Options{
		Region: s.Region, BaseEndpoint: aws.String(endpoint),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return creds, nil }),
		HTTPClient:  &http.Client{Transport: f.cfg.Transport},
	})
	d := max(g.ExpiresAt.Sub(f.cfg.Now()), MinVendDuration)
	d = min(d, MaxVendDuration)
	in := &sts.AssumeRoleInput{
		RoleArn:         aws.String(s.RoleARN),
		RoleSessionName: aws.String(sessionChars(g.ID, 64)),
		DurationSeconds: aws.Int32(int32(d / time.Second)),
		Policy:          aws.String(policy),
		SourceIdentity:  aws.String(sessionChars(g.Subject, 64)),
		Tags: []ststypes.Tag{
			{Key: aws.String("aicred-workload"), Value: aws.String(tagChars(g.Issuer + " " + g.Subject))},
			{Key: aws.String("aicred-role"), Value: aws.String(tagChars(g.Role))},
			{Key: aws.String("aicred-token"), Value: aws.String(tagChars(g.ID))},
		},
	}
	if s.ExternalID != "" {
		in.ExternalId = aws.String(s.ExternalID)
	}
	out, err := client.AssumeRole(r.Context(), in)
	if err != nil {
		return nil, err
	}
	c := out.Credentials
	if c == nil || c.AccessKeyId == nil || c.SecretAccessKey == nil || c.SessionToken == nil || c.Expiration == nil {
		return nil, fmt.Errorf("AssumeRole answered without credentials")
	}
	return &ProcessCredentials{Version: 1, AccessKeyID: *c.AccessKeyId, SecretAccessKey: *c.SecretAccessKey,
		SessionToken: *c.SessionToken, Expiration: c.Expiration.UTC().Format(time.RFC3339)}, nil
}

// sessionChars keeps what a role session name or source identity may hold
// ([\w+=,.@-]), at most n characters (at least 2).
func sessionChars(s string, n int) string {
	b := []byte{}
	for i := 0; i < len(s) && len(b) < n; i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_+=,.@-", c) >= 0 {
			b = append(b, c)
		} else {
			b = append(b, '-')
		}
	}
	for len(b) < 2 {
		b = append(b, '-')
	}
	return string(b)
}

// tagChars keeps what a session tag value may hold, at most 256 characters.
func tagChars(s string) string {
	b := []byte{}
	for i := 0; i < len(s) && len(b) < 256; i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(" _.:/=+-@", c) >= 0 {
			b = append(b, c)
		} else {
			b = append(b, '_')
		}
	}
	return string(b)
}

type policyDoc struct {
	Version   string            `json:"Version"`
	Statement []policyStatement `json:"Statement"`
}

type policyStatement struct {
	Effect    string         `json:"Effect"`
	Action    []string       `json:"Action"`
	Resource  []string       `json:"Resource"`
	Condition map[string]any `json:"Condition,omitempty"`
}

// SessionPolicy is the inline session policy of the role's storage scopes
// on store: the temporary credentials can do no more than the fence would
// let the token do. Errors: the role has no scope there, or the policy is
// over STS's size limit.
func SessionPolicy(role *broker.Role, store string) (string, error) {
	doc := policyDoc{Version: "2012-10-17"}
	for _, sc := range role.Storage {
		if sc.Store != store {
			continue
		}
		bucket := "arn:aws:s3:::" + sc.Bucket
		objects := bucket + "/" + sc.Prefix + "*"
		var objActs []string
		for _, op := range sc.Operations {
			switch op {
			case broker.StorageList:
				doc.Statement = append(doc.Statement, policyStatement{Effect: "Allow",
					Action: []string{"s3:ListBucket", "s3:ListBucketMultipartUploads", "s3:ListBucketVersions"}, Resource: []string{bucket},
					Condition: map[string]any{"StringLike": map[string][]string{"s3:prefix": {sc.Prefix + "*"}}}})
				objActs = append(objActs, "s3:ListMultipartUploadParts")
			case broker.StorageRead:
				objActs = append(objActs, "s3:GetObject", "s3:GetObjectAttributes", "s3:GetObjectTagging")
			case broker.StorageWrite:
				objActs = append(objActs, "s3:PutObject", "s3:AbortMultipartUpload")
			case broker.StorageDelete:
				objActs = append(objActs, "s3:DeleteObject")
			}
		}
		if len(objActs) > 0 {
			slices.Sort(objActs)
			doc.Statement = append(doc.Statement, policyStatement{Effect: "Allow", Action: slices.Compact(objActs), Resource: []string{objects}})
		}
	}
	if len(doc.Statement) == 0 {
		return "", fmt.Errorf("the role has no storage scope on store %q", store)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return "", err
	}
	if len(b) > maxSessionPolicy {
		return "", fmt.Errorf("the role's scopes on store %q make a session policy over STS's %d characters", store, maxSessionPolicy)
	}
	return string(b), nil
}
