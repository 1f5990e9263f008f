/*
 * banned.h: turns libc functions that overflow buffers or are not
 * reentrant into compile errors (after git's banned.h). Every .c file of
 * the project includes it last, after its other headers.
 *
 * Use instead: snprintf (sprintf), memcpy with an explicit length or
 * snprintf (strcpy, strcat), strtoll/strtoull through common/parse.h (atoi,
 * atol), strtok_r (strtok), gmtime_r/localtime_r (gmtime, localtime).
 */
#ifndef UNIQ_BANNED_H
#define UNIQ_BANNED_H

#define BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) BANNED(strncpy)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef atoi
#define atoi(x) BANNED(atoi)
#undef atol
#define atol(x) BANNED(atol)
#undef atoll
#define atoll(x) BANNED(atoll)
#undef gmtime
#define gmtime(t) BANNED(gmtime)
#undef localtime
#define localtime(t) BANNED(localtime)
#undef asctime
#define asctime(t) BANNED(asctime)
#undef ctime
#define ctime(t) BANNED(ctime)
#undef gets
#define gets(s) BANNED(gets)

#endif
