package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// File names inside a deploy directory.
const (
	EventsFile  = "events.jsonl"
	MetricsFile = "metrics.json"
	// SummaryFile is the part of metrics.json that history reads (see
	// Slim): a long history is read at every deploy, and this keeps that
	// read a few hundred bytes per deploy whatever the stack's size.
	SummaryFile    = "summary.json"
	ReportMarkdown = "report.md"
	ReportJSON     = "report.json"
	ReportHTML     = "report.html"
)

// WriteJSON writes the metrics as indented JSON (the content of
// metrics.json).
func WriteJSON(w io.Writer, m Metrics) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(m)
}

// Report is the content of report.json: the deploy's metrics and the
// project's history summary as it stood after this deploy.
type Report struct {
	SchemaVersion int     `json:"schema_version"`
	Metrics       Metrics `json:"metrics"`
	History       Summary `json:"history"`
}

// HistoryWindow is the trend window reports use (the last 5 successful
// deploys against the 5 before).
const HistoryWindow = 5

// WriteReportJSON writes report.json: the metrics plus the history summary
// (hist with this deploy added if it is not in it yet).
func WriteReportJSON(w io.Writer, m Metrics, hist []HistoryEntry) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(Report{SchemaVersion: SchemaVersion, Metrics: m, History: Summarize(withCurrent(hist, m), HistoryWindow)})
}

// withCurrent returns hist with m appended unless a deploy of that ID is
// already there (the caller may have loaded the history after writing this
// deploy's metrics.json).
func withCurrent(hist []HistoryEntry, m Metrics) []HistoryEntry {
	out := make([]HistoryEntry, 0, len(hist)+1)
	found := false
	for _, h := range hist {
		if h.Metrics.DeployID == m.DeployID && m.DeployID != "" {
			found = true
			h.Metrics = m
		}
		out = append(out, h)
	}
	if !found {
		out = append(out, HistoryEntry{Metrics: m})
	}
	sortHistory(out)
	return out
}

// WriteDeployFiles writes metrics.json, summary.json, report.md, report.json and
// report.html into dir (created if needed). events.jsonl is written
// separately, by the JSONL sink during the deploy. Each file is written to a
// temporary file and renamed, so a reader never sees half a file.
func WriteDeployFiles(dir string, m Metrics, hist []HistoryEntry) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating deploy directory: %w", err)
	}
	files := []struct {
		name  string
		write func(io.Writer) error
	}{
		{MetricsFile, func(w io.Writer) error { return WriteJSON(w, m) }},
		{SummaryFile, func(w io.Writer) error { return writeSummary(w, m) }},
		{ReportMarkdown, func(w io.Writer) error { return WriteMarkdown(w, m, hist) }},
		{ReportJSON, func(w io.Writer) error { return WriteReportJSON(w, m, hist) }},
		{ReportHTML, func(w io.Writer) error { return WriteHTML(w, m, hist) }},
	}
	for _, f := range files {
		var buf bytes.Buffer
		if err := f.write(&buf); err != nil {
			return fmt.Errorf("rendering %s: %w", f.name, err)
		}
		if err := writeFileAtomic(filepath.Join(dir, f.name), buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
