/* talc/talc.h — umbrella header: everything libtalc installs.
 * Concurrency: see each included header. */
#ifndef TALC_TALC_H
#define TALC_TALC_H

#include "talc/config.h"
#include "talc/heap.h"
#include "talc/heap_locked.h"
#include "talc/platform.h"
#include "talc/arena.h"
#include "talc/reserve.h"
#include "talc/stats.h"

#endif /* TALC_TALC_H */
