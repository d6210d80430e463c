// Package blockdev tells, once for the whole project, what the kernel
// says about the block device under a path: its device number, whether a
// directory is a mount point, and the identity of the physical drive
// (serial, World Wide Name, model). raid records the identity in its disk
// labels and keeps two shards of an object off one drive; smart names the
// disks it reads with the same serials and WWNs, so that a SMART verdict
// can be joined to an array member.
//
// # Identity
//
// DriveIdentity follows a path's file system down to one whole disk (a
// partition to its disk, a one-disk device-mapper or md device to the
// device under it) through /sys/dev/block, then reads the disk's sysfs
// attributes (DiskIdentity: device/serial, serial, the SCSI VPD page 0x80;
// wwid; device/model), and fills what is missing from the /dev/disk/by-id
// names udev makes. A loop device's serial is "loop:" and its backing
// file. Identity is best-effort: what the kernel does not say is "".
//
// Sysfs holds the roots it reads (/sys and /dev), so that tests run the
// walk on recorded copies of layouts the test machine does not have.
//
// # Portability
//
// The package reads Linux's sysfs and mountinfo. Elsewhere it builds, and
// DeviceOf, IsMountPoint and DriveIdentity return an error wrapping
// errors.ErrUnsupported that names the operating system.
package blockdev
