package conform

import (
	"github.com/perfconform/perfconform/report"
	"github.com/perfconform/perfconform/result"
	"github.com/perfconform/perfconform/vmtest"
)

// Event is what Run reports while it works (WithEvents). It is a closed set:
// the types below.
type Event interface{ isEvent() }

// Message is a line of progress: an adapter being built, a VM booted again
// after it died before booting, where the results were written.
type Message struct{ Text string }

// HostStarted: the suite starts on this machine; Checks is loaders ×
// requirements, the number of results to expect.
type HostStarted struct{ Checks int }

// CheckStarted: the check of one requirement against one loader starts (host
// runs; suite.Config.OnCheck).
type CheckStarted struct{ Loader, Requirement string }

// VMsStarted: VMs VMs are about to boot.
type VMsStarted struct{ VMs int }

// VMProgress is a VM's stage (vmtest.WithProgress).
type VMProgress struct{ vmtest.Progress }

// ResultReady carries every result as soon as it is known: on the host, from
// a VM, or synthesized as an ERROR for a VM that did not deliver it (those
// come after Stopped).
type ResultReady struct{ Result result.Result }

// Stopped: the suite (host) or the VMs ended; what follows is the run's
// wrap-up. A live status display ends here.
type Stopped struct{}

// VMsFinished: every VM's run as it goes into the report, with what vmtest
// returned for it (same index), for a per-VM table.
type VMsFinished struct {
	Runs []report.Run
	VMs  []vmtest.VMResult
}

func (Message) isEvent()      {}
func (HostStarted) isEvent()  {}
func (CheckStarted) isEvent() {}
func (VMsStarted) isEvent()   {}
func (VMProgress) isEvent()   {}
func (ResultReady) isEvent()  {}
func (Stopped) isEvent()      {}
func (VMsFinished) isEvent()  {}
