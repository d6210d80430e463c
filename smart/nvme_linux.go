package smart

import (
	"context"
	"fmt"

	smartgo "github.com/anatol/smart.go"
)

// NVMe disks: the controller identity and the SMART / health log.

// nvmeCelsius converts the composite temperature (kelvin); 0 K means no
// sensor.
func nvmeCelsius(k uint16) (int, bool) {
	if k == 0 {
		return 0, false
	}
	c := int(k) - 273
	return c, plausibleTemperature(c)
}

func (d *device) readNVMe(ctx context.Context) (*Record, error) {
	n, err := smartgo.OpenNVMe(d.dev)
	if err != nil {
		return nil, fmt.Errorf("read disk %s: %w", d.path, err)
	}
	defer n.Close()
	c, nss, err := n.Identify()
	if err != nil {
		return nil, fmt.Errorf("read disk %s: nvme identify: %w", d.path, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	log, err := n.ReadSMART()
	if err != nil {
		return nil, fmt.Errorf("read disk %s: nvme smart log: %w", d.path, err)
	}
	r := nvmeRecord(c, nss, log)
	r.Time = d.env.now()
	r.Device = d.path
	r.WWN = d.id.WWN
	if r.Capacity == 0 {
		r.Capacity = d.id.Capacity
	}
	d.remember(r)
	return r, nil
}

// nvmeRecord builds a Record from the controller identify data and the
// SMART / health log.
func nvmeRecord(c *smartgo.NvmeIdentController, nss []smartgo.NvmeIdentNamespace, log *smartgo.NvmeSMARTLog) *Record {
	r := &Record{Protocol: NVMe, Model: c.ModelNumber(), Serial: c.SerialNumber(), Firmware: c.FirmwareRev()}
	r.Capacity = c.Tnvmcap.Val[0]
	if r.Capacity == 0 {
		for _, ns := range nss {
			r.Capacity += ns.Nsze * ns.LbaSize()
		}
	}
	r.Temperature, r.HasTemperature = nvmeCelsius(log.Temperature)
	if !r.HasTemperature {
		r.Temperature = 0
	}
	r.PowerOnHours = log.PowerOnHours.Val[0]
	r.PowerCycles = log.PowerCycles.Val[0]
	r.SMARTStatus = "passed"
	if log.CritWarning != 0 {
		r.SMARTStatus = "failed"
	}
	r.NVMe = &NVMeHealth{
		CriticalWarning:    log.CritWarning,
		AvailableSpare:     int(log.AvailSpare),
		SpareThreshold:     int(log.SpareThresh),
		PercentageUsed:     int(log.PercentUsed),
		MediaErrors:        log.MediaErrors.Val[0],
		IntegrityErrors:    log.NumErrLogEntries.Val[0],
		UnsafeShutdowns:    log.UnsafeShutdowns.Val[0],
		DataUnitsRead:      log.DataUnitsRead.Val[0],
		DataUnitsWritten:   log.DataUnitsWritten.Val[0],
		ControllerBusyMins: log.CtrlBusyTime.Val[0],
	}
	return r
}
