// A floor for the overhead benchmark: the smallest authorization plugin that allows
// everything. Benchmark tool only, never part of the product.
package main

import (
	"net"
	"net/http"
	"os"
)

func main() {
	os.Remove(os.Args[1])
	listener, err := net.Listen("unix", os.Args[1])
	if err != nil {
		panic(err)
	}
	http.HandleFunc("/Plugin.Activate", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"Implements":["authz"]}`))
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"Allow":true}`))
	})
	panic(http.Serve(listener, nil))
}
