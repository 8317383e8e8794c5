// A load generator for the saturation benchmark: N clients, each on its own keep-alive
// connection to a Docker socket, for a fixed time. Written in Go so that on a 2-core machine the
// clients cost little of the CPU that the daemon and the authorization plugin compete for.
// Benchmark tool only, never part of the product.
//
//	loadgen -socket PATH -clients 8 -seconds 10 -workload ping|mix|exec [-container ID]
//
// Prints one JSON object: operations, errors (with a few examples), operations per second and
// latency percentiles in milliseconds. An operation is one request, or for "exec" one exec
// create plus its detached start.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

type result struct {
	latencies []time.Duration
	errors    int
	examples  []string
}

type client struct {
	conn   net.Conn
	reader *bufio.Reader
	path   string
}

func dial(path string) (*client, error) {
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, err
	}
	return &client{conn: conn, reader: bufio.NewReader(conn), path: path}, nil
}

// do sends one request and returns the status and body.
func (c *client) do(method, target, body string) (int, []byte, error) {
	request := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: docker\r\n", method, target)
	if body != "" {
		request += fmt.Sprintf("Content-Type: application/json\r\nContent-Length: %d\r\n", len(body))
	}
	request += "\r\n" + body
	if _, err := io.WriteString(c.conn, request); err != nil {
		return 0, nil, err
	}
	response, err := http.ReadResponse(c.reader, nil)
	if err != nil {
		return 0, nil, err
	}
	data, err := io.ReadAll(response.Body)
	response.Body.Close()
	return response.StatusCode, data, err
}

var mix = [][2]string{{"GET", "/_ping"}, {"GET", "/version"}, {"GET", "/containers/json"}, {"GET", "/images/json"}}

// operation runs one unit of the workload and says what went wrong, if anything.
func operation(c *client, workload, container string, i int) (string, error) {
	switch workload {
	case "ping":
		status, _, err := c.do("GET", "/_ping", "")
		if err != nil || status != 200 {
			return fmt.Sprintf("ping: %d", status), err
		}
	case "mix":
		route := mix[i%len(mix)]
		status, body, err := c.do(route[0], route[1], "")
		if err != nil || status != 200 {
			return fmt.Sprintf("%s: %d %.120s", route[1], status, body), err
		}
	case "exec":
		status, body, err := c.do("POST", "/containers/"+container+"/exec", `{"Cmd":["true"]}`)
		if err != nil || status != 201 {
			return fmt.Sprintf("exec create: %d %.160s", status, body), err
		}
		var created struct{ Id string }
		if err := json.Unmarshal(body, &created); err != nil {
			return "exec create: bad answer", err
		}
		status, body, err = c.do("POST", "/exec/"+created.Id+"/start", `{"Detach":true}`)
		if err != nil || status != 200 {
			return fmt.Sprintf("exec start: %d %.160s", status, body), err
		}
	default:
		return "", fmt.Errorf("unknown workload %q", workload)
	}
	return "", nil
}

func run(path, workload, container string, seconds float64, offset int, out *result) {
	c, err := dial(path)
	deadline := time.Now().Add(time.Duration(seconds * float64(time.Second)))
	for i := offset; time.Now().Before(deadline); i++ {
		if err != nil || c == nil {
			out.errors++
			out.examples = append(out.examples, fmt.Sprintf("connect: %v", err))
			time.Sleep(10 * time.Millisecond)
			c, err = dial(path)
			continue
		}
		started := time.Now()
		what, opErr := operation(c, workload, container, i)
		if what == "" && opErr == nil {
			out.latencies = append(out.latencies, time.Since(started))
			continue
		}
		out.errors++
		if len(out.examples) < 5 {
			out.examples = append(out.examples, strings.TrimSpace(fmt.Sprintf("%s %v", what, opErr)))
		}
		if opErr != nil { // the connection is in an unknown state: start a new one
			c.conn.Close()
			c, err = dial(path)
		}
	}
	if c != nil {
		c.conn.Close()
	}
}

func percentile(sorted []time.Duration, fraction float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	index := int(fraction * float64(len(sorted)))
	if index >= len(sorted) {
		index = len(sorted) - 1
	}
	return float64(sorted[index]) / float64(time.Millisecond)
}

func main() {
	socket := flag.String("socket", "", "Docker API socket")
	clients := flag.Int("clients", 8, "concurrent clients, one connection each")
	seconds := flag.Float64("seconds", 10, "duration")
	workload := flag.String("workload", "ping", "ping, mix or exec")
	container := flag.String("container", "", "running container for the exec workload")
	flag.Parse()

	results := make([]result, *clients)
	var wg sync.WaitGroup
	for n := 0; n < *clients; n++ {
		wg.Add(1)
		go func(n int) {
			defer wg.Done()
			run(*socket, *workload, *container, *seconds, n, &results[n])
		}(n)
	}
	wg.Wait()

	var all []time.Duration
	errors := 0
	examples := []string{}
	for _, r := range results {
		all = append(all, r.latencies...)
		errors += r.errors
		for _, e := range r.examples {
			if len(examples) < 5 {
				examples = append(examples, e)
			}
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	json.NewEncoder(os.Stdout).Encode(map[string]interface{}{
		"operations": len(all),
		"errors":     errors,
		"examples":   examples,
		"per_second": float64(len(all)) / *seconds,
		"p50_ms":     percentile(all, 0.50),
		"p99_ms":     percentile(all, 0.99),
	})
}
