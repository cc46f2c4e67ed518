// Package faults holds dive's fault-injection tests: each test deploys a
// small stack of stand-in services through the real dive binary against the
// real Docker daemon, makes one thing go wrong (a crash, a timeout, a missing
// image, a lost engine, Ctrl-C, ...) and checks what dive does about it: its
// exit code, how fast it gives up, what its diagnosis says and what it leaves
// running. See faults_test.go; docs/troubleshooting.md is the user-facing
// side of the same messages.
//
// The tests need a Docker daemon; without one they skip. `go test -short`
// skips them too.
package faults
