package storetest

import (
	"testing"
	"time"

	"github.com/aicred/aicred"
)

// Usage bench sizes: the gateway's StoreRecorder writes batches of up to
// UsageBenchBatch records; summaries run over UsageBenchRecords.
const (
	UsageBenchRecords = 100_000
	UsageBenchBatch   = 200
)

// BenchmarkRecordUsage writes UsageBenchRecords records in batches of
// UsageBenchBatch into one store and reports records per second.
func BenchmarkRecordUsage(b *testing.B, open func(tb testing.TB) aicred.Store) {
	recs := UsageRecords(60, UsageBenchRecords, 30, epoch)
	s := open(b)
	defer s.Close()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		for i := 0; i < len(recs); i += UsageBenchBatch {
			if err := s.RecordUsage(ctx(b), recs[i:min(i+UsageBenchBatch, len(recs))]); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(recs))*float64(b.N)/time.Since(start).Seconds(), "records/s")
}

// BenchmarkSummarizeUsage totals UsageBenchRecords records (30 days, six
// workloads, five models), as `aicred usage` does: everything by model
// and day, and one workload's week by model.
func BenchmarkSummarizeUsage(b *testing.B, open func(tb testing.TB) aicred.Store) {
	s := open(b)
	defer s.Close()
	recs := UsageRecords(61, UsageBenchRecords, 30, epoch)
	for i := 0; i < len(recs); i += 5000 {
		if err := s.RecordUsage(ctx(b), recs[i:min(i+5000, len(recs))]); err != nil {
			b.Fatal(err)
		}
	}
	queries := []struct {
		name string
		q    aicred.UsageQuery
	}{
		{"all by model,day", aicred.UsageQuery{By: []aicred.UsageGroup{aicred.GroupModel, aicred.GroupDay}}},
		{"workload week by model", aicred.UsageQuery{By: []aicred.UsageGroup{aicred.GroupModel},
			Filter: aicred.UsageFilter{Workload: recs[0].Workload, Since: epoch.Add(7 * 24 * time.Hour), Until: epoch.Add(14 * 24 * time.Hour)}}},
	}
	for _, q := range queries {
		b.Run(q.name, func(b *testing.B) {
			for range b.N {
				sum, err := s.SummarizeUsage(ctx(b), q.q)
				if err != nil || len(sum) == 0 {
					b.Fatalf("%d groups, %v", len(sum), err)
				}
			}
		})
	}
}
