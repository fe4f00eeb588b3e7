/* rundir.h - who owns a run directory.
 *
 * One process writes a run directory at a time: the master takes an
 * exclusive flock() on RUNDIR/.loom-lock for the whole run. The kernel
 * drops the lock when its holder dies, whatever kills it, so a resume after
 * a crash is never refused for a lock nobody holds; while another loom
 * holds it (a second run by mistake, or the ranks of a killed mpirun that
 * live on for a moment), a run waits a bounded time and then refuses. The
 * file keeps the holder's pid, host and start time for the message.
 */
#ifndef LOOM_RUNDIR_H
#define LOOM_RUNDIR_H

#include <stddef.h>

#define LOOM__LOCK_NAME ".loom-lock"
#define LOOM__LOCK_WAIT 10.0 /* seconds a run waits for the holder to end */

/* Takes dir's lock, waiting up to `wait` seconds for another holder (one
 * line on stderr says so unless quiet). Returns 0 with *fd the lock's
 * descriptor (keep it open for the run), LOOM_EBUSY (err names the holder)
 * or LOOM_EIO. */
int loom__rundir_lock(const char *dir, double wait, int quiet, int *fd,
                      char *err, size_t errlen);

/* Lets the lock go; fd < 0 does nothing. */
void loom__rundir_unlock(int fd);

#endif /* LOOM_RUNDIR_H */
