package reference_test

import (
	"fmt"
	"log"

	"github.com/perfconform/perfconform/reference"
	"github.com/perfconform/perfconform/reference/perfring"
)

// Load an object, size its perf arrays for this machine, and read samples
// with their CPU.
func Example() {
	coll, err := reference.Load("perf_auto_kv.o", reference.WithPinDir("/sys/fs/bpf/mytool"))
	if err != nil {
		log.Fatal(err) // e.g. "size perf event arrays: CPU detection failed: …/possible: …"
	}
	defer coll.Close()
	for _, s := range coll.PerfSizes {
		fmt.Printf("%s: declared %d, max_entries %d (possible CPUs %s)\n", s.Name, s.Declared, s.Actual, coll.Possible)
	}
	rd, err := coll.NewReader("events", perfring.Options{Pages: 8})
	if err != nil {
		log.Fatal(err)
	}
	defer rd.Close()
	var rec perfring.Record
	for rd.ReadInto(&rec) == nil {
		fmt.Printf("CPU %d: %d bytes (lost %d)\n", rec.CPU, len(rec.RawSample), rec.LostSamples)
	}
}

// Without a readable possible mask (no sysfs in a sandbox), say what to size for.
func ExampleWithPossibleCPUs() {
	coll, err := reference.Load("perf_auto_kv.o", reference.WithPossibleCPUs(8))
	if err != nil {
		log.Fatal(err)
	}
	defer coll.Close()
	fmt.Println(coll.Maps["events"].MaxEntries()) // 8
}
