package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/broker"
	"github.com/aicred/aicred/s3fence"
	"github.com/aicred/aicred/seal"
)

// EnvS3Key holds the S3 fence's server secret (base64, 32 bytes); it
// overrides storage.key_file.
const EnvS3Key = "AICRED_S3_KEY"

// storageConfig is the `storage:` section: the object stores the S3
// fence serves (docs/storage.md).
type storageConfig struct {
	// KeyFile holds the server secret every token's S3 key pair derives
	// from (default: s3.key beside the master key file, created 0600).
	KeyFile string        `yaml:"key_file"`
	Stores  []storeConfig `yaml:"stores"`
}

type storeConfig struct {
	Name        string `yaml:"name"`
	Endpoint    string `yaml:"endpoint"`
	Region      string `yaml:"region"`
	Credential  string `yaml:"credential"`
	STSEndpoint string `yaml:"sts_endpoint"`
	RoleARN     string `yaml:"role_arn"`
	ExternalID  string `yaml:"external_id"`
}

var storageKeys = map[string]bool{"key_file": true, "stores": true}
var storeKeys = map[string]bool{"name": true, "endpoint": true, "region": true, "credential": true, "sts_endpoint": true, "role_arn": true, "external_id": true}

// parseStorageConfig reads the storage section; errors name the line.
func parseStorageConfig(n *yaml.Node) (*storageConfig, error) {
	s := &storageConfig{}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return s, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, configError(n, "storage", "must be a mapping")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !storageKeys[k.Value] {
			return nil, configError(k, "storage", "unknown key %q (want key_file, stores)", k.Value)
		}
		if k.Value == "stores" {
			if v.Kind != yaml.SequenceNode {
				return nil, configError(v, "storage.stores", "must be a list")
			}
			for _, e := range v.Content {
				if e.Kind != yaml.MappingNode {
					return nil, configError(e, "storage.stores", "each store is a mapping")
				}
				for j := 0; j+1 < len(e.Content); j += 2 {
					if kk := e.Content[j]; !storeKeys[kk.Value] {
						return nil, configError(kk, "storage.stores", "unknown key %q (want name, endpoint, region, credential, sts_endpoint, role_arn, external_id)", kk.Value)
					}
				}
			}
		}
	}
	if err := n.Decode(s); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i, st := range s.Stores {
		where := fmt.Sprintf("storage.stores[%d]", i)
		u, err := url.Parse(st.Endpoint)
		switch {
		case st.Name == "" || strings.ContainsAny(st.Name, "/ \t"):
			return nil, configError(n, where+".name", "a store needs a name without '/' or spaces")
		case seen[st.Name]:
			return nil, configError(n, where+".name", "store %q is named twice", st.Name)
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "":
			return nil, configError(n, where+".endpoint", "want an absolute http(s) URL without user information or query")
		case st.Credential == "":
			return nil, configError(n, where+".credential", "name the held credential (an AWS key pair) the fence signs with")
		case st.Region != "" && !awsRegion(st.Region):
			return nil, configError(n, where+".region", "want an AWS region such as us-east-1")
		case st.STSEndpoint != "" && st.RoleARN == "":
			return nil, configError(n, where+".sts_endpoint", "sts_endpoint without role_arn")
		case st.RoleARN != "" && !strings.HasPrefix(st.RoleARN, "arn:"):
			return nil, configError(n, where+".role_arn", "want a role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
		}
		seen[st.Name] = true
	}
	return s, nil
}

// checkStorageRoles refuses roles whose storage scopes name a store the
// section does not define.
func (s *storageConfig) checkRoles(roles []broker.Role) error {
	names := map[string]bool{}
	for _, st := range s.Stores {
		names[st.Name] = true
	}
	for _, r := range roles {
		for _, sc := range r.Storage {
			if !names[sc.Store] {
				return aicred.Errorf(aicred.ErrInvalid, "role %q: storage scope names store %q, which storage.stores does not define", r.Name, sc.Store)
			}
		}
	}
	return nil
}

// serverSecret reads the fence's server secret: $AICRED_S3_KEY, else the
// key file, created with a fresh secret (0600) when missing.
func (s *storageConfig) serverSecret() ([]byte, error) {
	if v := os.Getenv(EnvS3Key); v != "" {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
		if err != nil || len(b) != s3fence.KeySize {
			return nil, aicred.Errorf(aicred.ErrInvalid, "%s: want %d bytes, base64", EnvS3Key, s3fence.KeySize)
		}
		return b, nil
	}
	path := s.KeyFile
	if path == "" {
		master, err := seal.DefaultKeyFile()
		if err != nil {
			return nil, err
		}
		path = filepath.Join(filepath.Dir(master), "s3.key")
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, s3fence.KeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, aicred.Errorf(aicred.ErrUnavailable, "storage key file: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, err = f.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, aicred.Errorf(aicred.ErrUnavailable, "storage key file: %w", err)
			}
			return key, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, aicred.Errorf(aicred.ErrUnavailable, "storage key file: %w", err)
		}
		data, err = os.ReadFile(path) // another process created it first
	}
	if err != nil {
		return nil, aicred.Errorf(aicred.ErrUnavailable, "storage key file: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, aicred.Errorf(aicred.ErrInvalid, "storage key file %s: readable by others (chmod 600)", path)
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(b) != s3fence.KeySize {
		return nil, aicred.Errorf(aicred.ErrInvalid, "storage key file %s: want %d bytes, base64", path, s3fence.KeySize)
	}
	return b, nil
}

// newFence builds the S3 fence, or nil when no store is configured.
func (s *storageConfig) newFence(c s3fence.Config, roles []broker.Role, log *slog.Logger) (*s3fence.Fence, error) {
	if len(s.Stores) == 0 {
		return nil, nil
	}
	if err := s.checkRoles(roles); err != nil {
		return nil, err
	}
	secret, err := s.serverSecret()
	if err != nil {
		return nil, err
	}
	if c.Keys, err = s3fence.NewKeys(secret); err != nil {
		return nil, err
	}
	for _, st := range s.Stores {
		c.Stores = append(c.Stores, s3fence.Store{Name: st.Name, Endpoint: st.Endpoint, Region: st.Region, Credential: st.Credential,
			STSEndpoint: st.STSEndpoint, RoleARN: st.RoleARN, ExternalID: st.ExternalID})
	}
	c.PathPrefix, c.Log = "/s3/", log
	return s3fence.New(c)
}
