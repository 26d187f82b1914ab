package s3fence_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/s3fence"
	"github.com/aicred/aicred/sigv4"
)

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestSDKThroughFence drives the AWS SDK S3 client and its upload manager
// through the fence to a real S3 implementation that checks every
// signature, over plain HTTP (signed payload digests) and TLS (the SDK's
// aws-chunked uploads with trailing checksums).
func TestSDKThroughFence(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(fmt.Sprintf("tls=%v", tls), func(t *testing.T) {
			f := newFixture(t, fixtureOpts{tls: tls})
			ctx := context.Background()
			token, id := f.issue(t, time.Hour)
			pc := f.pair(t, token)
			if !strings.HasPrefix(pc.AccessKeyID, s3fence.AccessKeyPrefix) || pc.Version != 1 || pc.Expiration == "" {
				t.Fatalf("pair: %+v", pc)
			}
			c := f.client(t, pc)

			data := f.gen.Bytes(3000)
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("models"), Key: aws.String("runs/r1/model.bin"), Body: bytes.NewReader(data)}); err != nil {
				t.Fatalf("PutObject: %v", err)
			}
			// Over TLS an unseekable body: the SDK streams it (aws-chunked).
			var notes io.Reader = strings.NewReader("hello ")
			if tls {
				notes = io.MultiReader(notes)
			}
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("models"), Key: aws.String("runs/r1/notes weird+key.txt"),
				Body: notes, ContentLength: aws.Int64(6)}); err != nil {
				t.Fatalf("PutObject unseekable: %v", err)
			}
			got, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("models"), Key: aws.String("runs/r1/model.bin")})
			if err != nil {
				t.Fatalf("GetObject: %v", err)
			}
			b, _ := io.ReadAll(got.Body)
			got.Body.Close()
			if !bytes.Equal(b, data) {
				t.Fatalf("GetObject: %d bytes back, want %d equal", len(b), len(data))
			}
			rg, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("models"), Key: aws.String("runs/r1/model.bin"), Range: aws.String("bytes=100-199")})
			if err != nil {
				t.Fatalf("range GetObject: %v", err)
			}
			b, _ = io.ReadAll(rg.Body)
			rg.Body.Close()
			if !bytes.Equal(b, data[100:200]) {
				t.Fatalf("range read: got %d bytes, not the range", len(b))
			}
			if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("models"), Key: aws.String("runs/r1/notes weird+key.txt")}); err != nil {
				t.Fatalf("HeadObject: %v", err)
			}
			if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("models"), Key: aws.String("runs/r1/copy.bin"), CopySource: aws.String("models/runs/r1/model.bin")}); err != nil {
				t.Fatalf("CopyObject: %v", err)
			}
			ls, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("models"), Prefix: aws.String("runs/r1/")})
			if err != nil {
				t.Fatalf("ListObjectsV2: %v", err)
			}
			if len(ls.Contents) != 3 {
				t.Fatalf("ListObjectsV2: %d objects, want 3", len(ls.Contents))
			}

			// The upload manager: a multipart upload of 3 parts.
			big := f.gen.Bytes(11 << 20)
			up := manager.NewUploader(c, func(u *manager.Uploader) { u.PartSize = 5 << 20 })
			if _, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: aws.String("models"), Key: aws.String("runs/r1/big.bin"), Body: bytes.NewReader(big)}); err != nil {
				t.Fatalf("upload manager: %v", err)
			}
			dl := manager.NewDownloader(c, func(d *manager.Downloader) { d.PartSize = 4 << 20 })
			buf := manager.NewWriteAtBuffer(nil)
			if _, err := dl.Download(ctx, buf, &s3.GetObjectInput{Bucket: aws.String("models"), Key: aws.String("runs/r1/big.bin")}); err != nil {
				t.Fatalf("download manager (range reads): %v", err)
			}
			if !bytes.Equal(buf.Bytes(), big) {
				t.Fatal("multipart object came back different")
			}
			// An aborted multipart upload.
			cm, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("models"), Key: aws.String("runs/r1/aborted.bin")})
			if err != nil {
				t.Fatalf("CreateMultipartUpload: %v", err)
			}
			if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("models"), Key: aws.String("runs/r1/aborted.bin"), UploadId: cm.UploadId}); err != nil {
				t.Fatalf("AbortMultipartUpload: %v", err)
			}

			// A presigned GET, fetched by a plain HTTP client.
			ps, err := s3.NewPresignClient(c).PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("models"), Key: aws.String("runs/r1/model.bin")})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := f.srv.Client().Get(ps.URL)
			if err != nil {
				t.Fatal(err)
			}
			b, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !bytes.Equal(b, data) {
				t.Fatalf("presigned GET: %d, %d bytes", resp.StatusCode, len(b))
			}

			if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("models"), Key: aws.String("runs/r1/copy.bin")}); err != nil {
				t.Fatalf("DeleteObject: %v", err)
			}
			if _, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("models"), Delete: &s3types.Delete{
				Objects: []s3types.ObjectIdentifier{{Key: aws.String("runs/r1/notes weird+key.txt")}}}}); err != nil {
				t.Fatalf("DeleteObjects: %v", err)
			}
			if f.upstream.badSignatures != 0 {
				t.Fatalf("%d requests reached the store with a bad signature", f.upstream.badSignatures)
			}
			modes := map[string]bool{}
			for _, m := range f.clientModes {
				if !sigv4.IsHexSHA256(m) {
					modes[m] = true
				}
			}
			if tls && !modes[sigv4.StreamingUnsignedTrail] {
				t.Errorf("over TLS the SDK sent no aws-chunked upload with a trailing checksum: %v", modes)
			}
			if !tls && !modes[""] { // the presigned GET carries no header
				t.Errorf("no presigned request: %v", modes)
			}
			t.Logf("client payload modes besides digests: %v", modes)

			// Every action is in the usage records, as bytes.
			recs := f.usage.Records()
			ops := map[string]int64{}
			for _, r := range recs {
				if r.TokenID != id || r.Provider != "s3" || r.Usage.Unit != "byte" || r.Workload != "https://issuer.test job-train-1" {
					t.Fatalf("usage record: %+v", r)
				}
				ops[r.Operation] += r.Usage.Units
			}
			for _, op := range []string{"PutObject", "GetObject", "HeadObject", "CopyObject", "ListObjectsV2", "CreateMultipartUpload",
				"UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload", "DeleteObject", "DeleteObjects"} {
				if _, ok := ops[op]; !ok {
					t.Errorf("no usage record of %s (have %v)", op, ops)
				}
			}
			if ops["UploadPart"] != int64(len(big)) {
				t.Errorf("UploadPart bytes = %d, want %d", ops["UploadPart"], len(big))
			}
		})
	}
}

// TestOutOfScopeRefused: every request outside the role's buckets,
// prefixes or operations is refused with S3's error shape before it
// reaches the store.
func TestOutOfScopeRefused(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	ctx := context.Background()
	token, _ := f.issue(t, time.Hour)
	c := f.client(t, f.pair(t, token))
	body := func() io.Reader { return strings.NewReader("x") }
	cases := []struct {
		name string
		call func() error
		code string
	}{
		{"read outside the prefix", func() error {
			_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("datasets"), Key: aws.String("private/x")})
			return err
		}, "AccessDenied"},
		{"write to a read-only scope", func() error {
			_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("datasets"), Key: aws.String("train/x"), Body: body()})
			return err
		}, "AccessDenied"},
		{"delete in a read-only scope", func() error {
			_, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("datasets"), Key: aws.String("train/x")})
			return err
		}, "AccessDenied"},
		{"another bucket", func() error {
			_, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("secrets"), Key: aws.String("train/x")})
			return err
		}, "AccessDenied"},
		{"list the whole bucket", func() error {
			_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("models")})
			return err
		}, "AccessDenied"},
		{"copy from outside the scope", func() error {
			_, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("models"), Key: aws.String("runs/stolen"), CopySource: aws.String("secrets/train/x")})
			return err
		}, "AccessDenied"},
		{"delete many with one key outside", func() error {
			_, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("models"), Delete: &s3types.Delete{Objects: []s3types.ObjectIdentifier{
				{Key: aws.String("runs/a")}, {Key: aws.String("other/b")}}}})
			return err
		}, "AccessDenied"},
		{"list buckets", func() error {
			_, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
			return err
		}, "AccessDenied"},
		{"bucket policy", func() error {
			_, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("models")})
			return err
		}, "NotImplemented"},
		{"create bucket", func() error {
			_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("newbucket")})
			return err
		}, "NotImplemented"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := f.upstream.Calls()
			err := tc.call()
			if got := apiCode(err); got != tc.code {
				t.Fatalf("error code %q (%v), want %q", got, err, tc.code)
			}
			if f.upstream.Calls() != before {
				t.Fatal("the refused request reached the store")
			}
		})
	}
}

// TestRevocationKillsPair: once the token is revoked, its key pair is
// refused at the next request.
func TestRevocationKillsPair(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	ctx := context.Background()
	token, id := f.issue(t, time.Hour)
	c := f.client(t, f.pair(t, token))
	if _, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("datasets"), Prefix: aws.String("train/")}); err != nil {
		t.Fatal(err)
	}
	if err := f.tokens.Revoke(ctx, &aicred.Revocation{By: aicred.RevokeToken, Value: id, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	before := f.upstream.Calls()
	_, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("datasets"), Prefix: aws.String("train/")})
	if apiCode(err) != "InvalidAccessKeyId" {
		t.Fatalf("after revocation: %v", err)
	}
	if f.upstream.Calls() != before {
		t.Fatal("a revoked key reached the store")
	}
	// Another token's pair is not this one's.
	other, _ := f.issue(t, time.Hour)
	if p1, p2 := f.pair(t, other), f.pair(t, other); p1 != p2 {
		t.Fatal("a token's pair is not deterministic")
	}
}

// TestSignatureChecks: a wrong secret, a forged key id and a body that
// does not match its signed digest are refused; the forged body never
// becomes an object.
func TestSignatureChecks(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	ctx := context.Background()
	token, _ := f.issue(t, time.Hour)
	pc := f.pair(t, token)

	wrong := pc
	wrong.SecretAccessKey = f.gen.Alnum(40)
	if _, err := f.client(t, wrong).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("datasets"), Prefix: aws.String("train/")}); apiCode(err) != "SignatureDoesNotMatch" {
		t.Fatalf("wrong secret: %v", err)
	}
	forged := pc
	forged.AccessKeyID = s3fence.AccessKeyPrefix + strings.Repeat("A", len(pc.AccessKeyID)-4)
	if _, err := f.client(t, forged).ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("datasets"), Prefix: aws.String("train/")}); apiCode(err) != "InvalidAccessKeyId" {
		t.Fatalf("forged key id: %v", err)
	}

	// A signed digest of one body, sent with another of the same length.
	signed, sent := []byte("the real model weights"), []byte("the fake model weights")
	sum := sha256.Sum256(signed)
	req, _ := http.NewRequest(http.MethodPut, f.srv.URL+"/s3/main/models/runs/tampered.bin", bytes.NewReader(sent))
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	err := v4.NewSigner(func(o *v4.SignerOptions) { o.DisableURIPathEscaping = true }).SignHTTP(ctx,
		aws.Credentials{AccessKeyID: pc.AccessKeyID, SecretAccessKey: pc.SecretAccessKey}, req, hex.EncodeToString(sum[:]), "s3", "eu-west-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "<Code>XAmzContentSHA256Mismatch</Code>") {
		t.Fatalf("tampered body: %d %s", resp.StatusCode, b)
	}
	if _, err := f.client(t, pc).HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("models"), Key: aws.String("runs/tampered.bin")}); err == nil {
		t.Fatal("the tampered body was stored")
	}
	if f.upstream.aborted != 1 {
		t.Fatalf("the store saw %d aborted uploads, want 1", f.upstream.aborted)
	}
}
