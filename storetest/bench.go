package storetest

import (
	"io"
	"testing"
	"time"

	"github.com/aicred/aicred"
	"github.com/aicred/aicred/posture"
	"github.com/aicred/aicred/report"
)

// Bench sizes: a large scan's worth of sightings, over a realistic number
// of distinct credentials, recorded in batches as `aicred scan --record`
// does.
const (
	BenchSightings   = 100_000
	BenchCredentials = 20_000
	BenchBatch       = 1_000
)

// BenchmarkRecordSightings records BenchSightings new sightings into an
// empty store per iteration and reports sightings per second. Each
// sighting writes its audit record(s) too.
func BenchmarkRecordSightings(b *testing.B, open func(tb testing.TB) aicred.Store) {
	obs := NewGen(50).Observations(BenchSightings, BenchCredentials, epoch)
	var total time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		s := open(b)
		b.StartTimer()
		start := time.Now()
		for i := 0; i < len(obs); i += BenchBatch {
			if _, err := s.RecordSightings(ctx(b), obs[i:min(i+BenchBatch, len(obs))]); err != nil {
				b.Fatal(err)
			}
		}
		total += time.Since(start)
		b.StopTimer()
		v, err := s.VerifyAudit(ctx(b))
		if err != nil || !v.OK() {
			b.Fatalf("audit after the benchmark: %+v %v", v, err)
		}
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(BenchSightings)*float64(b.N)/total.Seconds(), "sightings/s")
}

// BenchmarkListCredentials lists the whole inventory of 10,000 credentials
// with 100,000 sightings, as the posture report does.
func BenchmarkListCredentials(b *testing.B, open func(tb testing.TB) aicred.Store) {
	s := open(b)
	defer s.Close()
	obs := NewGen(51).Observations(BenchSightings, 10_000, epoch)
	for i := 0; i < len(obs); i += BenchBatch {
		if _, err := s.RecordSightings(ctx(b), obs[i:min(i+BenchBatch, len(obs))]); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		cs, err := s.ListCredentials(ctx(b), aicred.CredentialFilter{})
		if err != nil || len(cs) != 10_000 {
			b.Fatalf("%d credentials, %v", len(cs), err)
		}
	}
}

// BenchmarkPostureReport produces the posture report over an inventory of
// 10,000 credentials with 100,000 sightings, as `aicred report --format
// html` does: read every credential with its history, evaluate every check,
// render the HTML file.
func BenchmarkPostureReport(b *testing.B, open func(tb testing.TB) aicred.Store) {
	s := open(b)
	defer s.Close()
	obs := NewGen(52).Observations(BenchSightings, 10_000, epoch)
	for i := 0; i < len(obs); i += BenchBatch {
		if _, err := s.RecordSightings(ctx(b), obs[i:min(i+BenchBatch, len(obs))]); err != nil {
			b.Fatal(err)
		}
	}
	now := epoch.Add(400 * 24 * time.Hour)
	b.ResetTimer()
	for range b.N {
		details, err := s.ListCredentialDetails(ctx(b), aicred.CredentialFilter{})
		if err != nil || len(details) != 10_000 {
			b.Fatalf("%d credentials, %v", len(details), err)
		}
		rep := posture.Evaluate(details, posture.DefaultConfig(), now)
		if err := report.WritePosture(io.Discard, "html", rep); err != nil {
			b.Fatal(err)
		}
	}
}
