package standin

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const (
	defaultProbeTimeout = 2 * time.Second
	maxProbeLine        = 120
)

// probe is `dive standin probe`, the exec-form healthcheck of every demo
// service. It prints one short line (docker keeps it in the health log) and
// exits 0 on a 200, 1 on anything else, bad arguments included.
func probe(ctx context.Context, args []string, rt runtimeEnv) int {
	fs := flag.NewFlagSet("dive standin probe", flag.ContinueOnError)
	fs.SetOutput(rt.stderr)
	target := fs.String("url", "", "URL to GET (default http://127.0.0.1:$STANDIN_PORT/healthz)")
	timeout := fs.Duration("timeout", defaultProbeTimeout, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 1
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(rt.stderr, "dive standin probe: unexpected argument %q\n", fs.Arg(0))
		return 1
	}
	if *target == "" {
		port := strings.TrimSpace(rt.getenv(EnvPort))
		if port == "" {
			port = fmt.Sprint(defaultPort)
		}
		*target = "http://127.0.0.1:" + port + "/healthz"
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *target, nil)
	if err != nil {
		fmt.Fprintf(rt.stdout, "healthz: bad url: %v\n", errors.Unwrap(err))
		return 1
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(rt.stdout, "healthz: %s\n", describeError(err, *timeout))
		return 1
	}
	defer resp.Body.Close()
	line, _ := bufio.NewReader(io.LimitReader(resp.Body, 512)).ReadString('\n')
	line = strings.TrimSpace(line)
	if len(line) > maxProbeLine {
		line = line[:maxProbeLine] + "…"
	}
	fmt.Fprintf(rt.stdout, "healthz: %d %s\n", resp.StatusCode, line)
	if resp.StatusCode == http.StatusOK {
		return 0
	}
	return 1
}

// tcpProbe is `dive standin tcp-probe HOST:PORT`: exit 0 if a TCP connection
// opens. Note that a port published by docker-proxy accepts connections before
// the app listens, so this is only meaningful inside the container's network.
func tcpProbe(ctx context.Context, args []string, rt runtimeEnv) int {
	fs := flag.NewFlagSet("dive standin tcp-probe", flag.ContinueOnError)
	fs.SetOutput(rt.stderr)
	timeout := fs.Duration("timeout", defaultProbeTimeout, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 1
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(rt.stderr, "usage: dive standin tcp-probe [--timeout 2s] HOST:PORT")
		return 1
	}
	addr := fs.Arg(0)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		fmt.Fprintf(rt.stdout, "tcp %s: %s\n", addr, describeError(err, *timeout))
		return 1
	}
	conn.Close()
	fmt.Fprintf(rt.stdout, "tcp %s: open\n", addr)
	return 0
}

// describeError shortens a client error to what a health log needs.
func describeError(err error, timeout time.Duration) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no answer within %s", timeout)
	}
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	return "unreachable: " + err.Error()
}
