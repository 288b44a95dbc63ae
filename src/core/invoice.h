/*
 * invoice.h - the PDF invoice of an order, drawn with libharu.
 *
 * One A4 page per 30 lines (the table continues on further pages): the
 * company block (cfg: invoice_company_name, invoice_company_address,
 * invoice_company_email, invoice_company_gstin), "Invoice", the order number
 * and date, the shipping address, a table of items (name, weight, quantity,
 * unit price, line total), then subtotal, GST (with its rate) and grand
 * total. Text is drawn with a standard font in WinAnsi encoding: characters
 * outside it print as '?', never break the document.
 */
#ifndef SHOPD_CORE_INVOICE_H
#define SHOPD_CORE_INVOICE_H

#include <stddef.h>
#include <stdint.h>

struct arena;
struct config;
struct order;

/* Renders the invoice into an arena buffer. 0, or -1 (libharu failed;
 * logged). */
int invoice_pdf(struct arena *a, const struct config *cfg, const struct order *o,
                const unsigned char **pdf, size_t *len);

/* "invoice-ORD-XXXXXXXX.pdf" */
const char *invoice_filename(struct arena *a, const struct order *o);

/* "GST (18%)" for 1800 basis points, "GST (12.5%)" for 1250: the label of
 * the tax line, shared by the invoice and the order emails. */
const char *invoice_tax_label(struct arena *a, int rate_bp);
/* "YYYY-MM-DD" of a timestamp, in UTC. */
const char *invoice_date(struct arena *a, int64_t epoch);

#endif
