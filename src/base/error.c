/* Thread-local error message and stderr logging. */
#include "base/base.h"

#include <stdio.h>
#include <string.h>

static _Thread_local char error_message[2048];
static pg_log_level log_level = PG_LOG_INFO;
static FILE *log_file;

pg_status pg_error_set(pg_status code, const char *file, int line, const char *fmt, ...) {
    /* Keep the first (innermost) message: callers add nothing that explains more. */
    va_list ap;
    va_start(ap, fmt);
    char text[1800];
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    const char *base = strrchr(file, '/');
    snprintf(error_message, sizeof error_message, "%s (%s:%d)", text, base ? base + 1 : file, line);
    return code;
}

const char *pg_error_message(void) {
    return error_message[0] ? error_message : "no error recorded";
}

void pg_error_clear(void) {
    error_message[0] = 0;
}

const char *pg_status_name(pg_status s) {
    switch (s) {
    case PG_OK:
        return "ok";
    case PG_ERR_INVALID:
        return "invalid argument";
    case PG_ERR_IO:
        return "i/o error";
    case PG_ERR_FORMAT:
        return "bad file format";
    case PG_ERR_VULKAN:
        return "vulkan error";
    case PG_ERR_NO_DEVICE:
        return "no device";
    case PG_ERR_OUT_OF_MEMORY:
        return "out of memory";
    case PG_ERR_UNSUPPORTED:
        return "unsupported";
    case PG_ERR_INTERRUPTED:
        return "interrupted";
    }
    return "unknown status";
}

void pg_log_set_level(pg_log_level level) {
    log_level = level;
}

void pg_log_set_file(void *file) {
    log_file = file;
}

void pg_log(pg_log_level level, const char *fmt, ...) {
    static const char *prefix[] = {"error: ", "warning: ", "", "debug: "};
    /* the log file keeps everything up to INFO whatever the console shows */
    int to_console = level <= log_level, to_file = log_file && level <= PG_LOG_INFO;
    if (!to_console && !to_file) return;
    va_list ap;
    va_start(ap, fmt);
    char text[4096];
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (to_console) fprintf(stderr, "%s%s\n", prefix[level], text);
    if (to_file) {
        fprintf(log_file, "%s%s\n", prefix[level], text);
        fflush(log_file);
    }
}
