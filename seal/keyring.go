package seal

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aicred/aicred"
)

// Environment variables that name the master key.
const (
	// EnvKey holds base64 master keys, comma-separated, the first one
	// primary: "NEW,OLD" during a rotation, "NEW" after it.
	EnvKey = "AICRED_MASTER_KEY"
	// EnvKeyFile overrides the key file's location.
	EnvKeyFile = "AICRED_MASTER_KEY_FILE"
)

// A Keyring holds master keys by id. The primary key wraps new data keys;
// the others only open (and re-wrap) blobs sealed before a rotation. A
// keyring loaded from a file re-reads the file when it meets a blob sealed
// under a key it does not know, so a process keeps working while another
// one rotates the master key.
type Keyring struct {
	mu      sync.RWMutex
	keys    map[string]keyEntry
	primary string
	path    string // "" when the keys came from the environment or memory
	// retired are the audit checkpoint public keys of retired master
	// keys, kept so that checkpoints signed before a rotation verify.
	retired map[string]ed25519.PublicKey
}

type keyEntry struct {
	ID      string    `json:"id"`
	Key     []byte    `json:"key"` // base64 in the file
	Created time.Time `json:"created"`
}

type keyFile struct {
	Version int        `json:"version"`
	Primary string     `json:"primary"`
	Keys    []keyEntry `json:"keys"`
	// Retired lists the audit checkpoint public keys of the master keys
	// retired so far (public: they verify, they sign nothing).
	Retired []retiredKey `json:"retired_checkpoint_keys,omitempty"`
}

type retiredKey struct {
	ID        string `json:"id"`
	PublicKey []byte `json:"public_key"` // base64 in the file
}

var _ aicred.Sealer = (*Keyring)(nil)

// NewKeyring returns an in-memory keyring; the first key is primary.
// Errors: ErrInvalid (no key, or a key that is not KeySize bytes).
func NewKeyring(keys ...[]byte) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, aicred.Errorf(aicred.ErrInvalid, "master keyring: no key")
	}
	k := &Keyring{keys: map[string]keyEntry{}}
	for i, key := range keys {
		if len(key) != KeySize {
			return nil, aicred.Errorf(aicred.ErrInvalid, "master key %d: %d bytes, want %d", i+1, len(key), KeySize)
		}
		id := KeyID(key)
		k.keys[id] = keyEntry{ID: id, Key: slices.Clone(key)}
		if i == 0 {
			k.primary = id
		}
	}
	return k, nil
}

// ParseEnv reads keys written as EnvKey holds them.
// Errors: ErrInvalid.
func ParseEnv(value string) (*Keyring, error) {
	var keys [][]byte
	for i, part := range strings.Split(value, ",") {
		part = strings.TrimSpace(part)
		key, err := decodeKey(part)
		if err != nil {
			return nil, aicred.Errorf(aicred.ErrInvalid, "%s: key %d: %v", EnvKey, i+1, err)
		}
		keys = append(keys, key)
	}
	return NewKeyring(keys...)
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != KeySize {
				return nil, fmt.Errorf("decodes to %d bytes, want %d", len(k), KeySize)
			}
			return k, nil
		}
	}
	return nil, errors.New("not base64")
}

// DefaultKeyFile returns where the key file lives: EnvKeyFile, else
// $XDG_CONFIG_HOME/aicred/master.key, else ~/.config/aicred/master.key. It
// is kept apart from the store's data directory, so a copy of the database
// alone opens nothing.
func DefaultKeyFile() (string, error) {
	if p := os.Getenv(EnvKeyFile); p != "" {
		return p, nil
	}
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", aicred.Errorf(aicred.ErrInvalid, "master key file: no home directory: %w", err)
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "aicred", "master.key"), nil
}

// Default returns the keyring named by the environment: EnvKey when set,
// else the key file (DefaultKeyFile), created on first use.
func Default() (*Keyring, error) {
	if v := os.Getenv(EnvKey); v != "" {
		return ParseEnv(v)
	}
	path, err := DefaultKeyFile()
	if err != nil {
		return nil, err
	}
	k, _, err := OpenFile(path)
	return k, err
}

// OpenFile loads the keyring in path, creating it with one fresh key
// (mode 0600, directory 0700) when it does not exist. created reports
// whether it did. Two processes creating it at once end up with the same
// key. Errors: ErrInvalid (a malformed file, or one that others can read),
// ErrUnavailable (the file cannot be read or written).
func OpenFile(path string) (k *Keyring, created bool, err error) {
	k, err = LoadFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, aicred.Errorf(aicred.ErrUnavailable, "master key file: %w", err)
	}
	key := NewKey()
	id := KeyID(key)
	f := keyFile{Version: 1, Primary: id, Keys: []keyEntry{{ID: id, Key: key, Created: time.Now().UTC()}}}
	tmp, err := writeTemp(path, &f)
	if err != nil {
		return nil, false, err
	}
	defer os.Remove(tmp)
	// Link fails when the file appeared meanwhile: then the other
	// process's key wins and we load it.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			k, err := LoadFile(path)
			return k, false, err
		}
		return nil, false, aicred.Errorf(aicred.ErrUnavailable, "master key file: %w", err)
	}
	syncDir(path)
	k, err = LoadFile(path)
	return k, err == nil, err
}

// LoadFile loads an existing keyring file. Errors as OpenFile; a missing
// file wraps fs.ErrNotExist.
func LoadFile(path string) (*Keyring, error) {
	k := &Keyring{path: path}
	if err := k.load(); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *Keyring) load() error {
	fi, err := os.Stat(k.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return aicred.Errorf(aicred.ErrNotFound, "master key file %s: %w", k.path, err)
		}
		return aicred.Errorf(aicred.ErrUnavailable, "master key file: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return aicred.Errorf(aicred.ErrInvalid, "master key file %s has mode %04o: it must be readable by its owner only (chmod 600)", k.path, fi.Mode().Perm())
	}
	b, err := os.ReadFile(k.path)
	if err != nil {
		return aicred.Errorf(aicred.ErrUnavailable, "master key file: %w", err)
	}
	var f keyFile
	if err := json.Unmarshal(b, &f); err != nil {
		return aicred.Errorf(aicred.ErrInvalid, "master key file %s: %v", k.path, err)
	}
	keys := map[string]keyEntry{}
	for _, e := range f.Keys {
		if len(e.Key) != KeySize || KeyID(e.Key) != e.ID {
			return aicred.Errorf(aicred.ErrInvalid, "master key file %s: key %s is damaged", k.path, e.ID)
		}
		keys[e.ID] = e
	}
	if f.Version != 1 || keys[f.Primary].ID == "" {
		return aicred.Errorf(aicred.ErrInvalid, "master key file %s: unknown version or no primary key", k.path)
	}
	retired := map[string]ed25519.PublicKey{}
	for _, r := range f.Retired {
		if len(r.PublicKey) != ed25519.PublicKeySize {
			return aicred.Errorf(aicred.ErrInvalid, "master key file %s: retired checkpoint key %s is damaged", k.path, r.ID)
		}
		retired[r.ID] = ed25519.PublicKey(r.PublicKey)
	}
	k.mu.Lock()
	k.keys, k.primary, k.retired = keys, f.Primary, retired
	k.mu.Unlock()
	return nil
}

// writeTemp writes f next to path in a new 0600 file and returns its name.
func writeTemp(path string, f *keyFile) (string, error) {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return "", aicred.Errorf(aicred.ErrInternal, "master key file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".master.key-*")
	if err != nil {
		return "", aicred.Errorf(aicred.ErrUnavailable, "master key file: %w", err)
	}
	name := tmp.Name()
	fail := func(err error) (string, error) {
		tmp.Close()
		os.Remove(name)
		return "", aicred.Errorf(aicred.ErrUnavailable, "master key file: %w", err)
	}
	if err := tmp.Chmod(0o600); err != nil {
		return fail(err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	return name, nil
}

func syncDir(path string) {
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// save replaces the file with the keyring's keys. Callers hold k.mu.
func (k *Keyring) save() error {
	f := keyFile{Version: 1, Primary: k.primary}
	for _, e := range k.keys {
		f.Keys = append(f.Keys, e)
	}
	slices.SortFunc(f.Keys, func(a, b keyEntry) int { return a.Created.Compare(b.Created) })
	for id, pub := range k.retired {
		f.Retired = append(f.Retired, retiredKey{ID: id, PublicKey: pub})
	}
	slices.SortFunc(f.Retired, func(a, b retiredKey) int { return strings.Compare(a.ID, b.ID) })
	tmp, err := writeTemp(k.path, &f)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, k.path); err != nil {
		os.Remove(tmp)
		return aicred.Errorf(aicred.ErrUnavailable, "master key file: %w", err)
	}
	syncDir(k.path)
	return nil
}

// Primary returns the id of the key that wraps new data keys.
func (k *Keyring) Primary() string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.primary
}

// IDs returns the ids of every key in the ring, sorted.
func (k *Keyring) IDs() []string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	ids := make([]string, 0, len(k.keys))
	for id := range k.keys {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Rotate is the first step of a master key rotation: it adds a fresh key,
// makes it primary and saves the file, keeping the old keys so that every
// blob still opens. Then re-wrap every blob (Store.RewrapHeld with Rewrap),
// and only then Retire the old keys. Returns the new key's id.
// Errors: ErrInvalid (the keys come from the environment: rotate by
// setting EnvKey to "NEW,OLD"), ErrUnavailable.
func (k *Keyring) Rotate() (string, error) {
	if k.path == "" {
		return "", aicred.Errorf(aicred.ErrInvalid, "master key from %s: rotate by setting it to \"NEW,OLD\", re-wrapping, then \"NEW\"", EnvKey)
	}
	unlock, err := lockFile(k.path)
	if err != nil {
		return "", err
	}
	defer unlock()
	// Pick up changes made by other processes first.
	if err := k.load(); err != nil {
		return "", err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	key := NewKey()
	id := KeyID(key)
	old := k.primary
	k.keys[id] = keyEntry{ID: id, Key: key, Created: time.Now().UTC()}
	k.primary = id
	if err := k.save(); err != nil {
		delete(k.keys, id)
		k.primary = old
		return "", err
	}
	return id, nil
}

// Retire removes a key that is no longer primary, once no blob uses it.
// Errors: ErrInvalid (the primary key, or an environment keyring),
// ErrNotFound.
func (k *Keyring) Retire(id string) error {
	if k.path == "" {
		return aicred.Errorf(aicred.ErrInvalid, "master key from %s: retire a key by removing it from the variable", EnvKey)
	}
	unlock, err := lockFile(k.path)
	if err != nil {
		return err
	}
	defer unlock()
	if err := k.load(); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.keys[id]
	switch {
	case !ok:
		return aicred.Errorf(aicred.ErrNotFound, "master key %s is not in the keyring", id)
	case id == k.primary:
		return aicred.Errorf(aicred.ErrInvalid, "master key %s is primary: rotate before retiring it", id)
	}
	delete(k.keys, id)
	// Its checkpoint key stays, public only, for the checkpoints it
	// signed.
	if k.retired == nil {
		k.retired = map[string]ed25519.PublicKey{}
	}
	k.retired[id] = checkpointKey(e.Key).Public().(ed25519.PublicKey)
	if err := k.save(); err != nil {
		k.keys[id] = e
		delete(k.retired, id)
		return err
	}
	return nil
}

// checkpointInfo separates the checkpoint signing key from every other
// use of a master key.
const checkpointInfo = "aicred audit checkpoint signing key v1"

// checkpointKey derives the Ed25519 key that signs audit checkpoints from
// a master key (HKDF-SHA256). It rotates with the master key.
func checkpointKey(master []byte) ed25519.PrivateKey {
	seed, err := hkdf.Key(sha256.New, master, nil, checkpointInfo, ed25519.SeedSize)
	if err != nil { // only for a length HKDF cannot give
		panic("seal: checkpoint key: " + err.Error())
	}
	return ed25519.NewKeyFromSeed(seed)
}

// SignCheckpoint signs msg with the checkpoint key of the primary master
// key and returns that key's id (audit.CheckpointSigner).
func (k *Keyring) SignCheckpoint(msg []byte) (string, []byte, error) {
	id, master := k.primaryKey()
	if master == nil {
		return "", nil, aicred.Errorf(aicred.ErrInvalid, "sign checkpoint: the keyring has no primary key")
	}
	return id, ed25519.Sign(checkpointKey(master), msg), nil
}

// CheckpointPublicKeys returns, by master key id, the public checkpoint
// keys of every master key in the ring and of every one retired from it
// (audit.CheckpointKeys). A keyring loaded from a file reads it again
// first, to see another process's rotation.
func (k *Keyring) CheckpointPublicKeys() (map[string]ed25519.PublicKey, error) {
	if k.path != "" {
		if err := k.load(); err != nil {
			return nil, err
		}
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	out := make(map[string]ed25519.PublicKey, len(k.keys)+len(k.retired))
	for id, pub := range k.retired {
		out[id] = pub
	}
	for id, e := range k.keys {
		out[id] = checkpointKey(e.Key).Public().(ed25519.PublicKey)
	}
	return out, nil
}

// key returns the key with id, re-reading the file once when it is unknown.
func (k *Keyring) key(id string) ([]byte, error) {
	k.mu.RLock()
	e, ok := k.keys[id]
	k.mu.RUnlock()
	if !ok && k.path != "" && k.load() == nil {
		k.mu.RLock()
		e, ok = k.keys[id]
		k.mu.RUnlock()
	}
	if !ok {
		return nil, aicred.Errorf(aicred.ErrNotFound, "master key %s is not in the keyring", id)
	}
	return e.Key, nil
}

func (k *Keyring) primaryKey() (string, []byte) {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.primary, k.keys[k.primary].Key
}

// Seal encrypts s under a fresh data key wrapped by the primary key.
func (k *Keyring) Seal(s aicred.Secret, aad []byte) ([]byte, string, error) {
	if s.IsZero() {
		return nil, "", aicred.Errorf(aicred.ErrInvalid, "seal: empty secret")
	}
	id, master := k.primaryKey()
	plain := []byte(s.Reveal())
	defer clear(plain)
	return sealWith(master, id, plain, aad), id, nil
}

// Open decrypts a blob sealed with the same aad.
// Errors: ErrInvalid (not a blob), ErrNotFound (unknown master key),
// ErrUnauthorized (wrong key, wrong aad, tampered).
func (k *Keyring) Open(blob, aad []byte) (aicred.Secret, error) {
	h, err := parse(blob)
	if err != nil {
		return aicred.Secret{}, err
	}
	master, err := k.key(h.keyID)
	if err != nil {
		return aicred.Secret{}, err
	}
	return openWith(master, h, aad)
}

// Rewrap returns blob with its data key wrapped by the primary key; the
// encrypted secret is carried over untouched. A blob already under the
// primary key is returned as is, once its aad is checked. Errors as Open.
func (k *Keyring) Rewrap(blob, aad []byte) ([]byte, string, error) {
	h, err := parse(blob)
	if err != nil {
		return nil, "", err
	}
	id, primary := k.primaryKey()
	if h.keyID == id {
		// Nothing to do, but still refuse a blob that is not this record's.
		dk, err := unwrap(primary, h, aad)
		if err != nil {
			return nil, "", err
		}
		clear(dk)
		return blob, id, nil
	}
	old, err := k.key(h.keyID)
	if err != nil {
		return nil, "", err
	}
	out, err := rewrapWith(old, primary, id, h, aad)
	if err != nil {
		return nil, "", err
	}
	return out, id, nil
}
