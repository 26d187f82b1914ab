package s3fence

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/aicred/aicred/broker"
)

// An action is one S3 API call as the fence classifies it.
type action struct {
	name string           // the S3 API name (GetObject)
	op   broker.StorageOp // what the role must allow
	// key is what the scope's prefix must cover: the object key, or the
	// list prefix for a listing.
	key string
	// bucketOnly: allowed when any scope names the bucket (HeadBucket,
	// GetBucketLocation), whatever its prefix or operations.
	bucketOnly bool
	// deleteMany: DeleteObjects; its body names the keys.
	deleteMany bool
}

// Query parameters each kind of request may carry; anything else is
// refused, so a subresource the fence does not know (acl, policy,
// lifecycle ...) never reaches the store.
var (
	presignParams = set("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
		"X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token", "X-Amz-Content-Sha256")
	getObjectParams = set("versionId", "partNumber", "x-id", "response-cache-control", "response-content-disposition",
		"response-content-encoding", "response-content-language", "response-content-type", "response-expires")
	listPartsParams   = set("uploadId", "max-parts", "part-number-marker", "x-id")
	listObjectsParams = set("list-type", "prefix", "delimiter", "max-keys", "continuation-token", "start-after",
		"encoding-type", "fetch-owner", "marker", "x-id", "optional-object-attributes")
	listUploadsParams  = set("uploads", "prefix", "delimiter", "max-uploads", "key-marker", "upload-id-marker", "encoding-type", "x-id")
	listVersionsParams = set("versions", "prefix", "delimiter", "max-keys", "key-marker", "version-id-marker", "encoding-type", "x-id")
)

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// only reports whether every parameter of q is in allowed (or a presign
// parameter).
func only(q url.Values, allowed map[string]bool) bool {
	for k := range q {
		if !allowed[k] && !presignParams[k] {
			return false
		}
	}
	return true
}

// classify maps a path-style request (bucket, key) to the S3 API call it
// is. ok is false for a call the fence does not serve.
func classify(r *http.Request, q url.Values, bucket, key string, hasKey bool) (action, bool) {
	if !hasKey {
		switch r.Method {
		case http.MethodHead:
			return action{name: "HeadBucket", op: broker.StorageList, bucketOnly: true}, only(q, set("x-id"))
		case http.MethodGet:
			switch {
			case q.Has("location"):
				return action{name: "GetBucketLocation", op: broker.StorageList, bucketOnly: true}, only(q, set("location", "x-id"))
			case q.Has("uploads"):
				return action{name: "ListMultipartUploads", op: broker.StorageList, key: q.Get("prefix")}, only(q, listUploadsParams)
			case q.Has("versions"):
				return action{name: "ListObjectVersions", op: broker.StorageList, key: q.Get("prefix")}, only(q, listVersionsParams)
			case q.Get("list-type") == "2":
				return action{name: "ListObjectsV2", op: broker.StorageList, key: q.Get("prefix")}, only(q, listObjectsParams)
			case !q.Has("list-type"):
				return action{name: "ListObjects", op: broker.StorageList, key: q.Get("prefix")}, only(q, listObjectsParams)
			}
		case http.MethodPost:
			if q.Has("delete") {
				return action{name: "DeleteObjects", op: broker.StorageDelete, deleteMany: true}, only(q, set("delete", "x-id"))
			}
		}
		return action{}, false
	}
	switch r.Method {
	case http.MethodGet:
		switch {
		case q.Has("uploadId"):
			return action{name: "ListParts", op: broker.StorageList, key: key}, only(q, listPartsParams)
		case q.Has("attributes"):
			return action{name: "GetObjectAttributes", op: broker.StorageRead, key: key}, only(q, set("attributes", "versionId", "x-id"))
		case q.Has("tagging"):
			return action{name: "GetObjectTagging", op: broker.StorageRead, key: key}, only(q, set("tagging", "versionId", "x-id"))
		}
		return action{name: "GetObject", op: broker.StorageRead, key: key}, only(q, getObjectParams)
	case http.MethodHead:
		return action{name: "HeadObject", op: broker.StorageRead, key: key}, only(q, getObjectParams)
	case http.MethodPut:
		copySrc := r.Header.Get("X-Amz-Copy-Source") != ""
		switch {
		case q.Has("uploadId") && copySrc:
			return action{name: "UploadPartCopy", op: broker.StorageWrite, key: key}, only(q, set("uploadId", "partNumber", "x-id"))
		case q.Has("uploadId"):
			return action{name: "UploadPart", op: broker.StorageWrite, key: key}, only(q, set("uploadId", "partNumber", "x-id"))
		case copySrc:
			return action{name: "CopyObject", op: broker.StorageWrite, key: key}, only(q, set("x-id"))
		}
		return action{name: "PutObject", op: broker.StorageWrite, key: key}, only(q, set("x-id"))
	case http.MethodPost:
		switch {
		case q.Has("uploads"):
			return action{name: "CreateMultipartUpload", op: broker.StorageWrite, key: key}, only(q, set("uploads", "x-id"))
		case q.Has("uploadId"):
			return action{name: "CompleteMultipartUpload", op: broker.StorageWrite, key: key}, only(q, set("uploadId", "x-id"))
		}
	case http.MethodDelete:
		if q.Has("uploadId") {
			// Aborting an upload removes only parts the writer sent: a
			// write, so that a writer's SDK can clean up after itself.
			return action{name: "AbortMultipartUpload", op: broker.StorageWrite, key: key}, only(q, set("uploadId", "x-id"))
		}
		return action{name: "DeleteObject", op: broker.StorageDelete, key: key}, only(q, set("versionId", "x-id"))
	}
	return action{}, false
}

// copySource parses x-amz-copy-source: "[/]bucket/key[?versionId=v]",
// URL-escaped.
func copySource(v string) (bucket, key string, ok bool) {
	v, _, _ = strings.Cut(v, "?")
	v = strings.TrimPrefix(v, "/")
	b, k, found := strings.Cut(v, "/")
	if !found {
		return "", "", false
	}
	kk, err := url.PathUnescape(k)
	if err != nil || kk == "" || !broker.ValidBucket(b) {
		return "", "", false
	}
	return b, kk, true
}
