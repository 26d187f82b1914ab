// Command bench measures aicred scan throughput and peak memory on real
// corpora and prints a Markdown table. It builds the aicred binary, then
// runs it as a child process so the peak RSS reported is the whole
// process's (getrusage ru_maxrss), with files in the page cache.
//
//	go run ./bench                  # GOROOT/src and a generated corpus
//	go run ./bench -runs 5 -corpus-mb 256
package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aicred/aicred/provider"
)

func main() {
	runs := flag.Int("runs", 3, "timed runs per row (the median is reported)")
	corpusMB := flag.Int("corpus-mb", 128, "size of the generated corpus")
	keep := flag.Bool("keep", false, "keep the generated corpus and binary")
	flag.Parse()
	if err := run(*runs, *corpusMB, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

type row struct {
	name, args string
	bytes      int64
	files      int
	wall       time.Duration
	rssMB      float64
	findings   int
}

func run(runs, corpusMB int, keep bool) error {
	tmp, err := os.MkdirTemp("", "aicred-bench-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(tmp)
	}
	bin := filepath.Join(tmp, "aicred")
	build := exec.Command("go", "build", "-o", bin, "./cmd/aicred")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	corpus := filepath.Join(tmp, "corpus")
	if err := generateCorpus(corpus, int64(corpusMB)<<20); err != nil {
		return fmt.Errorf("corpus: %w", err)
	}
	goroot := filepath.Join(runtime.GOROOT(), "src")

	cases := []struct {
		name string
		dir  string
		args []string
	}{
		{"GOROOT/src", goroot, []string{"--max-archive-depth", "0"}},
		{"GOROOT/src, archives on", goroot, nil},
		{"generated corpus", corpus, []string{"--max-archive-depth", "0"}},
		{"generated corpus, archives on", corpus, nil},
	}
	var rows []row
	for _, c := range cases {
		files, size, err := treeSize(c.dir)
		if err != nil {
			return err
		}
		args := append([]string{"scan", "--format", "json"}, c.args...)
		args = append(args, c.dir)
		// One warm-up run puts the files in the page cache.
		if _, _, _, err := measure(bin, args); err != nil {
			return err
		}
		var walls []time.Duration
		var rss float64
		var found int
		for range runs {
			wall, r, n, err := measure(bin, args)
			if err != nil {
				return err
			}
			walls = append(walls, wall)
			rss = max(rss, r)
			found = n
		}
		slices.Sort(walls)
		rows = append(rows, row{name: c.name, args: strings.Join(c.args, " "), bytes: size, files: files,
			wall: walls[len(walls)/2], rssMB: rss, findings: found})
	}

	fmt.Printf("aicred scan, %d CPUs, %s, median of %d runs, files in page cache\n\n", runtime.NumCPU(), runtime.Version(), runs)
	fmt.Println("| corpus | flags | files | MB | seconds | MB/s | peak RSS MB | findings |")
	fmt.Println("|---|---|---:|---:|---:|---:|---:|---:|")
	for _, r := range rows {
		mb := float64(r.bytes) / 1e6
		fmt.Printf("| %s | %s | %d | %.1f | %.3f | %.0f | %.0f | %d |\n",
			r.name, r.args, r.files, mb, r.wall.Seconds(), mb/r.wall.Seconds(), r.rssMB, r.findings)
	}
	if keep {
		fmt.Println("\nkept:", tmp)
	}
	return nil
}

// measure runs the binary once and returns wall time, peak RSS in MB and
// the number of findings in its JSON report.
func measure(bin string, args []string) (time.Duration, float64, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out strings.Builder
	var errb strings.Builder
	cmd.Stdout = &out
	cmd.Stderr = &errb
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			return 0, 0, 0, fmt.Errorf("%s %s: %w", bin, strings.Join(args, " "), err)
		}
	}
	var rep struct {
		Findings []json.RawMessage `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out.String()), &rep); err != nil {
		return 0, 0, 0, fmt.Errorf("parse report: %w", err)
	}
	// aicred's summary line reports its peak memory from /proc/self/status
	// (VmHWM); getrusage would also count this process, which it was forked from.
	rss := 0.0
	if i := strings.LastIndex(errb.String(), "peak memory "); i >= 0 {
		fmt.Sscanf(errb.String()[i:], "peak memory %f MB", &rss)
	} else {
		rss = float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024
	}
	return wall, rss, len(rep.Findings), nil
}

func treeSize(dir string) (int, int64, error) {
	var files int
	var size int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				files++
				size += fi.Size()
			}
		}
		return nil
	})
	return files, size, err
}

// generateCorpus writes a tree that looks like an ML repository: source
// files, configs, notebooks, a large CI log, and zip and tar.gz archives,
// with keys of every catalog kind sprinkled in at a low density.
func generateCorpus(dir string, target int64) error {
	g := provider.NewGen(42)
	r := rand.New(rand.NewPCG(1, 2))
	var examples []string
	for _, k := range provider.Kinds() {
		for _, ex := range k.Rule.Examples(g) {
			examples = append(examples, ex.Text)
		}
	}
	words := strings.Fields(`import numpy as np torch model train loss optimizer epoch batch dataset
		config learning_rate def return class self if else for in range print logger info warning
		func package var const type struct interface error nil string int map make append len`)
	line := func() string {
		n := 4 + r.IntN(10)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = words[r.IntN(len(words))]
		}
		return strings.Join(parts, " ")
	}
	text := func(size int) string {
		var b strings.Builder
		for b.Len() < size {
			if r.IntN(400) == 0 {
				b.WriteString(examples[r.IntN(len(examples))])
			} else {
				b.WriteString(line())
			}
			b.WriteByte('\n')
		}
		return b.String()
	}
	var written int64
	write := func(rel string, data []byte) error {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		written += int64(len(data))
		return os.WriteFile(p, data, 0o644)
	}
	// A large CI log, streamed by the scanner in chunks.
	if err := write("ci/build.log", []byte(text(int(target/8)))); err != nil {
		return err
	}
	for i := 0; written < target*7/8; i++ {
		var err error
		switch i % 10 {
		case 0:
			cells := []map[string]any{}
			for c := 0; c < 8; c++ {
				cells = append(cells, map[string]any{"cell_type": "code", "source": strings.SplitAfter(text(2000), "\n"), "outputs": []any{}})
			}
			nb, _ := json.Marshal(map[string]any{"cells": cells, "nbformat": 4, "nbformat_minor": 5, "metadata": map[string]any{}})
			err = write(fmt.Sprintf("notebooks/n%04d.ipynb", i), nb)
		case 1:
			err = write(fmt.Sprintf("config/c%04d.yaml", i), []byte(text(3000)))
		default:
			err = write(fmt.Sprintf("src/pkg%02d/f%04d.py", i%50, i), []byte(text(4000+r.IntN(40000))))
		}
		if err != nil {
			return err
		}
	}
	// Archives holding more of the same.
	for a := 0; written < target; a++ {
		if err := writeZip(filepath.Join(dir, fmt.Sprintf("artifacts/a%03d.zip", a)), text, &written); err != nil {
			return err
		}
		if err := writeTarGz(filepath.Join(dir, fmt.Sprintf("artifacts/a%03d.tar.gz", a)), text, &written); err != nil {
			return err
		}
	}
	return nil
}

func writeZip(path string, text func(int) string, written *int64) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	zw := zip.NewWriter(f)
	for i := 0; i < 20; i++ {
		w, err := zw.Create(fmt.Sprintf("run%02d/output.txt", i))
		if err != nil {
			return err
		}
		if _, err := w.Write([]byte(text(20000))); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	fi, _ := f.Stat()
	*written += fi.Size()
	return f.Close()
}

func writeTarGz(path string, text func(int) string, written *int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	for i := 0; i < 20; i++ {
		data := []byte(text(20000))
		if err := tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("logs/%02d.log", i), Mode: 0o644, Size: int64(len(data))}); err != nil {
			return err
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	fi, _ := f.Stat()
	*written += fi.Size()
	return f.Close()
}
