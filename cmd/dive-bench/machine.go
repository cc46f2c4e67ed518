package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

type machine struct {
	cpus         int
	cpuModel     string
	memory       string
	os           string
	kernel       string
	dockerServer string
	apiVersion   string
	compose      string
	loadStart    string
	load1Start   float64
	loadEnd      string
	diveVersion  string
	goVersion    string
}

func readFile(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func loadavg() (string, float64) {
	f := strings.Fields(readFile("/proc/loadavg"))
	if len(f) < 3 {
		return "unknown", 0
	}
	l1, _ := strconv.ParseFloat(f[0], 64)
	return strings.Join(f[:3], " "), l1
}

func machineInfo() machine {
	m := machine{cpus: runtime.NumCPU(), kernel: readFile("/proc/sys/kernel/osrelease"), goVersion: runtime.Version()}
	for _, l := range strings.Split(readFile("/proc/meminfo"), "\n") {
		if strings.HasPrefix(l, "MemTotal:") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				kb, _ := strconv.ParseFloat(f[1], 64)
				m.memory = fmt.Sprintf("%.1f GiB", kb/1024/1024)
			}
		}
	}
	for _, l := range strings.Split(readFile("/proc/cpuinfo"), "\n") {
		if strings.HasPrefix(l, "model name") {
			if i := strings.Index(l, ":"); i >= 0 {
				m.cpuModel = strings.TrimSpace(l[i+1:])
				break
			}
		}
	}
	for _, l := range strings.Split(readFile("/etc/os-release"), "\n") {
		if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
			m.os = strings.Trim(v, `"`)
		}
	}
	m.loadStart, m.load1Start = loadavg()
	return m
}
