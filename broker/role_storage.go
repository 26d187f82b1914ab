package broker

import (
	"slices"
	"strings"
)

// A StorageOp is a class of object-storage (S3 API) call.
type StorageOp string

// Storage operations. Every S3 API call the fence serves maps to one.
const (
	StorageList   StorageOp = "list"   // ListObjects(V2), ListMultipartUploads, ListParts, HeadBucket
	StorageRead   StorageOp = "read"   // GetObject, HeadObject (range reads included)
	StorageWrite  StorageOp = "write"  // PutObject, CopyObject (its target), multipart uploads
	StorageDelete StorageOp = "delete" // DeleteObject, DeleteObjects, AbortMultipartUpload
)

// StorageOps returns every storage operation in the order they are written.
func StorageOps() []StorageOp {
	return []StorageOp{StorageList, StorageRead, StorageWrite, StorageDelete}
}

// A StorageScope lets a role's tokens reach part of one object store:
// a bucket, the keys under a prefix, and the operations named.
type StorageScope struct {
	// Store names an object store of the server's storage section.
	Store string `yaml:"store" json:"store"`
	// Bucket is the exact bucket name.
	Bucket string `yaml:"bucket" json:"bucket"`
	// Prefix limits keys (and list prefixes) to those starting with it;
	// empty allows the whole bucket, deliberately.
	Prefix string `yaml:"prefix,omitempty" json:"prefix,omitempty"`
	// Operations the scope allows (list, read, write, delete).
	Operations []StorageOp `yaml:"operations" json:"operations"`
}

// Allows reports whether the scope lets op reach key in bucket of store.
// For StorageList, key is the list prefix asked for: it must lie under
// the scope's prefix.
func (s StorageScope) Allows(store, bucket, key string, op StorageOp) bool {
	return s.Store == store && s.Bucket == bucket && strings.HasPrefix(key, s.Prefix) && slices.Contains(s.Operations, op)
}

// StorageAllows reports whether any of the role's storage scopes allows op
// on key in bucket of store.
func (r *Role) StorageAllows(store, bucket, key string, op StorageOp) bool {
	return slices.ContainsFunc(r.Storage, func(s StorageScope) bool { return s.Allows(store, bucket, key, op) })
}

// checkStorage checks the role's storage scopes.
func (r *Role) checkStorage() error {
	for i, s := range r.Storage {
		path := func(more ...any) []any { return append([]any{"storage", i}, more...) }
		if !validStoreName(s.Store) {
			return fieldErrorf(path("store"), "role %q: bad store name %q (letters, digits, '-', '_')", r.Name, s.Store)
		}
		if !validBucket(s.Bucket) {
			return fieldErrorf(path("bucket"), "role %q: bad bucket name %q (3-63 lower-case letters, digits, '.', '-')", r.Name, s.Bucket)
		}
		if strings.ContainsAny(s.Prefix, "*?[\x00") || strings.HasPrefix(s.Prefix, "/") {
			return fieldErrorf(path("prefix"), "role %q: a prefix is a literal key prefix (no globs, no leading '/')", r.Name)
		}
		if len(s.Operations) == 0 {
			return fieldErrorf(path("operations"), "role %q: a storage scope allows no operation", r.Name)
		}
		for j, o := range s.Operations {
			if !slices.Contains(StorageOps(), o) {
				return fieldErrorf(path("operations", j), "role %q: unknown storage operation %q (want list, read, write or delete)", r.Name, o)
			}
		}
	}
	return nil
}

func validStoreName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// validBucket checks the S3 bucket naming rules that matter for routing:
// 3-63 characters of lower-case letters, digits, '.' and '-', starting
// and ending with a letter or digit.
func validBucket(s string) bool {
	if len(s) < 3 || len(s) > 63 {
		return false
	}
	for i, c := range s {
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && ((c != '.' && c != '-') || i == 0 || i == len(s)-1) {
			return false
		}
	}
	return true
}

// ValidBucket reports whether s is a bucket name a storage scope accepts.
func ValidBucket(s string) bool { return validBucket(s) }
