/*
 * The EAP-TLS server handshake on OpenSSL memory BIOs, for src/tls/engine.ts.
 *
 * Node's own TLS runs over a JavaScript stream (JSStreamSocket) and cannot set the number of
 * TLS 1.3 session tickets; this addon drives the OpenSSL library Node is linked with directly:
 * records from the peer are written into one memory BIO, the records OpenSSL writes are read
 * out of another, and every call returns at once (no event-loop turns). It holds no policy:
 * the verification result, the peer certificate and the keys are handed to JavaScript, which
 * decides.
 *
 * Built with node-gyp against Node's headers (binding.gyp), so the OpenSSL headers and symbols
 * are those of the running Node. Every call leaves OpenSSL's thread-local error queue empty,
 * because Node reads that queue after its own crypto calls.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <stdlib.h>
#include <string.h>

/* What a delivery of peer records led to; mirrored by NativeStatus in src/tls/native.ts. */
enum Status { STATUS_CONTINUE = 0, STATUS_ESTABLISHED = 1, STATUS_FAILED = 2 };

/* One conversation: the SSL object and what the callbacks leave for JavaScript. */
typedef struct {
  SSL *ssl; /* NULL once destroyed */
  BIO *out; /* owned by ssl: the records OpenSSL wrote */
  /* TLS 1.2 session-ID resumption (RFC 5246 §7.4.1.2): the stored session JavaScript found for
   * the ID of the ClientHello, handed to OpenSSL when it asks. */
  SSL_SESSION *offered;
  /* TLS 1.3 server application traffic secret, for a refusal alert under it (RFC 8446 §5.2). */
  unsigned char traffic_secret[EVP_MAX_MD_SIZE];
  size_t traffic_secret_length;
} Conversation;

#define THROW_IF(env, condition, message) \
  do {                                    \
    if (condition) {                      \
      napi_throw_error((env), NULL, (message)); \
      return NULL;                        \
    }                                     \
  } while (0)

#define CALL(env, call)                                         \
  do {                                                          \
    if ((call) != napi_ok) {                                    \
      const napi_extended_error_info *info = NULL;              \
      napi_get_last_error_info((env), &info);                   \
      bool pending = false;                                     \
      napi_is_exception_pending((env), &pending);               \
      if (!pending)                                             \
        napi_throw_error((env), NULL,                           \
                         info && info->error_message ? info->error_message : "N-API call failed"); \
      return NULL;                                              \
    }                                                           \
  } while (0)

/* Throws `what` with the oldest OpenSSL error, and empties the queue. */
static napi_value throw_openssl(napi_env env, const char *what) {
  char reason[256] = "no OpenSSL error recorded";
  unsigned long code = ERR_peek_error();
  if (code != 0) ERR_error_string_n(code, reason, sizeof reason);
  ERR_clear_error();
  char message[384];
  snprintf(message, sizeof message, "%s: %s", what, reason);
  napi_throw_error(env, NULL, message);
  return NULL;
}

/* ----- argument helpers ---------------------------------------------------------------------- */

static int get_buffer(napi_env env, napi_value value, void **data, size_t *length) {
  bool is_buffer = false;
  if (napi_is_buffer(env, value, &is_buffer) != napi_ok || !is_buffer) return 0;
  return napi_get_buffer_info(env, value, data, length) == napi_ok;
}

static napi_value property(napi_env env, napi_value object, const char *name) {
  napi_value value = NULL;
  if (napi_get_named_property(env, object, name, &value) != napi_ok) return NULL;
  return value;
}

static int is_undefined(napi_env env, napi_value value) {
  napi_valuetype type;
  return value == NULL || (napi_typeof(env, value, &type) == napi_ok && (type == napi_undefined || type == napi_null));
}

/* A string property copied into a fresh NUL-terminated heap string (free it), or NULL. */
static char *string_property(napi_env env, napi_value object, const char *name) {
  napi_value value = property(env, object, name);
  size_t length = 0;
  if (is_undefined(env, value) || napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) return NULL;
  char *text = malloc(length + 1);
  if (text == NULL) return NULL;
  if (napi_get_value_string_utf8(env, value, text, length + 1, &length) != napi_ok) {
    free(text);
    return NULL;
  }
  return text;
}

static int int_property(napi_env env, napi_value object, const char *name, int32_t *out) {
  napi_value value = property(env, object, name);
  return value != NULL && napi_get_value_int32(env, value, out) == napi_ok;
}

static int bool_property(napi_env env, napi_value object, const char *name, bool *out) {
  napi_value value = property(env, object, name);
  return value != NULL && napi_get_value_bool(env, value, out) == napi_ok;
}

static napi_value copy_to_buffer(napi_env env, const void *data, size_t length) {
  napi_value buffer;
  void *target;
  CALL(env, napi_create_buffer_copy(env, length, data, &target, &buffer));
  return buffer;
}

/* DER of a certificate as a Buffer; X509 keeps its received encoding, so this is a copy. */
static napi_value certificate_der(napi_env env, X509 *certificate) {
  int length = i2d_X509(certificate, NULL);
  if (length <= 0) return throw_openssl(env, "encoding a certificate");
  napi_value buffer;
  void *data;
  CALL(env, napi_create_buffer(env, (size_t)length, &data, &buffer));
  unsigned char *cursor = data;
  i2d_X509(certificate, &cursor);
  return buffer;
}

/* Appends the DER of `certificate` to `array` at *next; 0 with an exception pending on failure. */
static int push_der(napi_env env, napi_value array, uint32_t *next, X509 *certificate) {
  napi_value der = certificate_der(env, certificate);
  return der != NULL && napi_set_element(env, array, (*next)++, der) == napi_ok;
}

static napi_value undefined_value(napi_env env) {
  napi_value value;
  napi_get_undefined(env, &value);
  return value;
}

/* ----- OpenSSL callbacks --------------------------------------------------------------------- */

/* Client certificates are requested but never refused by OpenSSL: the policy reads the result. */
static int accept_for_policy(int preverified, X509_STORE_CTX *store) {
  (void)preverified;
  (void)store;
  return 1;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* NSS key log line "SERVER_TRAFFIC_SECRET_0 <client random> <secret>": keep the secret only. */
static void on_key_log(const SSL *ssl, const char *line) {
  static const char label[] = "SERVER_TRAFFIC_SECRET_0 ";
  if (strncmp(line, label, sizeof label - 1) != 0) return;
  Conversation *conversation = SSL_get_app_data(ssl);
  const char *space = strchr(line + sizeof label - 1, ' ');
  if (conversation == NULL || space == NULL) return;
  const char *hex = space + 1;
  size_t length = strlen(hex) / 2;
  if (length == 0 || length > sizeof conversation->traffic_secret) return;
  for (size_t i = 0; i < length; i++) {
    int high = hex_value(hex[2 * i]), low = hex_value(hex[2 * i + 1]);
    if (high < 0 || low < 0) return;
    conversation->traffic_secret[i] = (unsigned char)(high << 4 | low);
  }
  conversation->traffic_secret_length = length;
}

/*
 * A TLS 1.2 peer offered a session ID. The store answers asynchronously, so JavaScript reads the
 * ID from the ClientHello, looks it up before delivering it, and offers what it found
 * (offerSession); OpenSSL gets that session when its ID is the one asked for.
 */
static SSL_SESSION *on_get_session(SSL *ssl, const unsigned char *id, int length, int *copy) {
  Conversation *conversation = SSL_get_app_data(ssl);
  *copy = 0; /* the offered session's one reference passes to OpenSSL */
  if (conversation == NULL || conversation->offered == NULL || length <= 0) return NULL;
  SSL_SESSION *offered = conversation->offered;
  conversation->offered = NULL;
  unsigned int offered_length = 0;
  const unsigned char *offered_id = SSL_SESSION_get_id(offered, &offered_length);
  if (offered_length != (unsigned int)length || CRYPTO_memcmp(offered_id, id, offered_length) != 0) {
    SSL_SESSION_free(offered);
    return NULL;
  }
  return offered;
}

/* ----- the context --------------------------------------------------------------------------- */

static void free_context(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  SSL_CTX_free(data);
}

static int load_chain(SSL_CTX *ctx, const void *pem, size_t length) {
  BIO *bio = BIO_new_mem_buf(pem, (int)length);
  if (bio == NULL) return 0;
  X509 *leaf = PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL);
  int ok = leaf != NULL && SSL_CTX_use_certificate(ctx, leaf) == 1;
  X509_free(leaf);
  X509 *issuer;
  while (ok && (issuer = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
    if (SSL_CTX_add0_chain_cert(ctx, issuer) != 1) {
      X509_free(issuer);
      ok = 0;
    }
  }
  BIO_free(bio);
  if (ok) ERR_clear_error(); /* the end of the PEM data is reported as an error */
  return ok;
}

static int load_key(SSL_CTX *ctx, const void *pem, size_t length, char *passphrase) {
  BIO *bio = BIO_new_mem_buf(pem, (int)length);
  if (bio == NULL) return 0;
  /* No callback: OpenSSL's default one uses the passphrase given as its argument. */
  EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, passphrase != NULL ? passphrase : "");
  BIO_free(bio);
  int ok = key != NULL && SSL_CTX_use_PrivateKey(ctx, key) == 1 && SSL_CTX_check_private_key(ctx) == 1;
  EVP_PKEY_free(key);
  return ok;
}

/* Every certificate of one PEM buffer becomes a trust anchor or intermediate, and a CA name
 * in the CertificateRequest (RFC 8446 §4.2.4, RFC 5246 §7.4.4). */
static int load_authorities(SSL_CTX *ctx, const void *pem, size_t length) {
  BIO *bio = BIO_new_mem_buf(pem, (int)length);
  if (bio == NULL) return 0;
  X509_STORE *store = SSL_CTX_get_cert_store(ctx);
  int count = 0, ok = 1;
  X509 *certificate;
  while (ok && (certificate = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
    ok = X509_STORE_add_cert(store, certificate) == 1 && SSL_CTX_add_client_CA(ctx, certificate) == 1;
    X509_free(certificate);
    count++;
  }
  BIO_free(bio);
  if (ok && count > 0) ERR_clear_error();
  return ok && count > 0;
}

/*
 * createContext({ certificateChain, privateKey, passphrase?, authorities: Buffer[], minVersion,
 * maxVersion, cipherList, cipherSuites, sessionIdContext, resumption, lifetimeSeconds,
 * ticketKeys? }) -> an external holding the SSL_CTX.
 */
static napi_value create_context(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value options;
  CALL(env, napi_get_cb_info(env, info, &argc, &options, NULL, NULL));
  THROW_IF(env, argc < 1, "createContext: options expected");

  void *chain, *key, *ticket_keys = NULL;
  size_t chain_length, key_length, ticket_keys_length = 0;
  int32_t min_version, max_version, lifetime;
  bool resumption;
  napi_value authorities = property(env, options, "authorities");
  napi_value keys_value = property(env, options, "ticketKeys");
  bool is_array = false;
  THROW_IF(env, !get_buffer(env, property(env, options, "certificateChain"), &chain, &chain_length), "certificateChain: Buffer expected");
  THROW_IF(env, !get_buffer(env, property(env, options, "privateKey"), &key, &key_length), "privateKey: Buffer expected");
  THROW_IF(env, !int_property(env, options, "minVersion", &min_version) || !int_property(env, options, "maxVersion", &max_version), "minVersion, maxVersion: numbers expected");
  THROW_IF(env, !int_property(env, options, "lifetimeSeconds", &lifetime), "lifetimeSeconds: number expected");
  THROW_IF(env, !bool_property(env, options, "resumption", &resumption), "resumption: boolean expected");
  THROW_IF(env, authorities == NULL || napi_is_array(env, authorities, &is_array) != napi_ok || !is_array, "authorities: array expected");
  if (!is_undefined(env, keys_value)) {
    THROW_IF(env, !get_buffer(env, keys_value, &ticket_keys, &ticket_keys_length) || ticket_keys_length != 80, "ticketKeys: 80-byte Buffer expected");
  }

  ERR_clear_error();
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == NULL) return throw_openssl(env, "SSL_CTX_new");
  char *passphrase = string_property(env, options, "passphrase");
  char *cipher_list = string_property(env, options, "cipherList");
  char *cipher_suites = string_property(env, options, "cipherSuites");
  char *id_context = string_property(env, options, "sessionIdContext");
  const char *failure = NULL;

  uint32_t authority_count = 0;
  napi_get_array_length(env, authorities, &authority_count);
  if (!load_chain(ctx, chain, chain_length)) failure = "server certificate chain";
  else if (!load_key(ctx, key, key_length, passphrase)) failure = "server private key";
  else if (SSL_CTX_set_min_proto_version(ctx, min_version) != 1 || SSL_CTX_set_max_proto_version(ctx, max_version) != 1) failure = "protocol versions";
  else if (cipher_list != NULL && SSL_CTX_set_cipher_list(ctx, cipher_list) != 1) failure = "cipher list";
  else if (cipher_suites != NULL && SSL_CTX_set_ciphersuites(ctx, cipher_suites) != 1) failure = "TLS 1.3 cipher suites";
  else if (id_context == NULL || SSL_CTX_set_session_id_context(ctx, (const unsigned char *)id_context, (unsigned int)strlen(id_context)) != 1) failure = "session ID context";
  else if (ticket_keys != NULL && SSL_CTX_set_tlsext_ticket_keys(ctx, ticket_keys, (long)ticket_keys_length) != 1) failure = "ticket keys";
  for (uint32_t i = 0; failure == NULL && i < authority_count; i++) {
    napi_value element;
    void *pem;
    size_t pem_length;
    if (napi_get_element(env, authorities, i, &element) != napi_ok || !get_buffer(env, element, &pem, &pem_length) ||
        !load_authorities(ctx, pem, pem_length))
      failure = "CA certificates";
  }
  if (passphrase != NULL) {
    OPENSSL_cleanse(passphrase, strlen(passphrase));
    free(passphrase);
  }
  free(cipher_list);
  free(cipher_suites);
  free(id_context);
  if (failure != NULL) {
    SSL_CTX_free(ctx);
    return throw_openssl(env, failure);
  }

  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_CLIENT_ONCE, accept_for_policy);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                               (resumption ? 0 : SSL_OP_NO_TICKET));
  /* Buffers are released between flights: a conversation waiting for its peer stays small. */
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_keylog_callback(ctx, on_key_log);
  SSL_CTX_set_timeout(ctx, lifetime);
  if (resumption) {
    /* One ticket per handshake: a supplicant uses one per authentication (RFC 8446 §4.6.1). */
    SSL_CTX_set_num_tickets(ctx, 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL | SSL_SESS_CACHE_NO_AUTO_CLEAR);
    SSL_CTX_sess_set_get_cb(ctx, on_get_session);
  } else {
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  }
  ERR_clear_error();

  napi_value external;
  if (napi_create_external(env, ctx, free_context, NULL, &external) != napi_ok) {
    SSL_CTX_free(ctx);
    napi_throw_error(env, NULL, "createContext: external");
    return NULL;
  }
  return external;
}

/* ----- conversations ------------------------------------------------------------------------- */

static void release(Conversation *conversation) {
  if (conversation->ssl != NULL) {
    SSL_set_app_data(conversation->ssl, NULL);
    SSL_free(conversation->ssl); /* frees both BIOs */
    conversation->ssl = NULL;
    conversation->out = NULL;
  }
  SSL_SESSION_free(conversation->offered);
  conversation->offered = NULL;
  OPENSSL_cleanse(conversation->traffic_secret, sizeof conversation->traffic_secret);
  conversation->traffic_secret_length = 0;
}

static void free_conversation(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  release(data);
  free(data);
}

/* The live conversation of argument `index`, or NULL with an exception pending. */
static Conversation *conversation_arg(napi_env env, napi_value *argv, size_t argc, size_t index) {
  void *data = NULL;
  napi_valuetype type;
  if (index >= argc || napi_typeof(env, argv[index], &type) != napi_ok || type != napi_external ||
      napi_get_value_external(env, argv[index], &data) != napi_ok || data == NULL) {
    napi_throw_type_error(env, NULL, "conversation expected");
    return NULL;
  }
  Conversation *conversation = data;
  if (conversation->ssl == NULL) {
    napi_throw_error(env, NULL, "conversation already destroyed");
    return NULL;
  }
  return conversation;
}

/* Reads up to *argc arguments into argv; the first must be a live conversation. NULL with an
 * exception pending otherwise. */
static Conversation *conversation_call(napi_env env, napi_callback_info info, napi_value *argv, size_t *argc) {
  if (napi_get_cb_info(env, info, argc, argv, NULL, NULL) != napi_ok) {
    napi_throw_error(env, NULL, "arguments");
    return NULL;
  }
  return conversation_arg(env, argv, *argc, 0);
}

/* An empty memory BIO for the peer's records: when empty it reports "retry" instead of end of
 * file, so the peer's next flight is awaited. */
static BIO *new_input_bio(void) {
  BIO *bio = BIO_new(BIO_s_mem());
  if (bio != NULL) BIO_set_mem_eof_return(bio, -1);
  return bio;
}

/* A drained memory BIO keeps the buffer its largest flight grew, about 8 KB per conversation in
 * all: fresh ones take the place of drained ones while the peer's next flight is awaited. */
static void replace_drained_bios(Conversation *conversation) {
  BIO *fresh;
  if (BIO_ctrl_pending(SSL_get_rbio(conversation->ssl)) == 0 && (fresh = new_input_bio()) != NULL) {
    SSL_set0_rbio(conversation->ssl, fresh);
  }
  if (BIO_ctrl_pending(conversation->out) == 0 && (fresh = BIO_new(BIO_s_mem())) != NULL) {
    SSL_set0_wbio(conversation->ssl, fresh);
    conversation->out = fresh;
  }
}

/* open(context) -> a new server-side conversation. */
static napi_value open_conversation(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void *ctx = NULL;
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  THROW_IF(env, argc < 1 || napi_get_value_external(env, argv[0], &ctx) != napi_ok || ctx == NULL, "context expected");
  Conversation *conversation = calloc(1, sizeof *conversation);
  THROW_IF(env, conversation == NULL, "out of memory");
  ERR_clear_error();
  SSL *ssl = SSL_new(ctx);
  BIO *in = new_input_bio(), *out = BIO_new(BIO_s_mem());
  if (ssl == NULL || in == NULL || out == NULL) {
    SSL_free(ssl);
    BIO_free(in);
    BIO_free(out);
    free(conversation);
    return throw_openssl(env, "opening a conversation");
  }
  SSL_set_bio(ssl, in, out);
  SSL_set_accept_state(ssl);
  SSL_set_app_data(ssl, conversation);
  conversation->ssl = ssl;
  conversation->out = out;
  napi_value external;
  if (napi_create_external(env, conversation, free_conversation, NULL, &external) != napi_ok) {
    release(conversation);
    free(conversation);
    napi_throw_error(env, NULL, "open: external");
    return NULL;
  }
  return external;
}

static napi_value status_value(napi_env env, enum Status status) {
  napi_value value;
  CALL(env, napi_create_int32(env, status, &value));
  return value;
}

/* Runs the handshake as far as the records received allow. */
static enum Status advance(Conversation *conversation) {
  if (SSL_is_init_finished(conversation->ssl)) return STATUS_ESTABLISHED;
  ERR_clear_error();
  int result = SSL_do_handshake(conversation->ssl);
  enum Status status;
  if (result == 1) status = STATUS_ESTABLISHED;
  else {
    switch (SSL_get_error(conversation->ssl, result)) {
      case SSL_ERROR_WANT_READ: status = STATUS_CONTINUE; break;
      default: status = STATUS_FAILED; break;
    }
  }
  ERR_clear_error();
  return status;
}

/* receive(conversation, records) -> Status. */
static napi_value receive_records(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  Conversation *conversation = conversation_call(env, info, argv, &argc);
  if (conversation == NULL) return NULL;
  void *records;
  size_t length;
  THROW_IF(env, argc < 2 || !get_buffer(env, argv[1], &records, &length), "records: Buffer expected");
  THROW_IF(env, length > INT32_MAX, "records too long");
  if (length > 0 && BIO_write(SSL_get_rbio(conversation->ssl), records, (int)length) != (int)length) {
    return throw_openssl(env, "buffering records");
  }
  return status_value(env, advance(conversation));
}

/*
 * offerSession(conversation, session DER): the stored session for the session ID the
 * ClientHello offers, given before the ClientHello is received. One that does not decode is
 * ignored (the handshake goes on in full).
 */
static napi_value offer_session(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  Conversation *conversation = conversation_call(env, info, argv, &argc);
  if (conversation == NULL) return NULL;
  void *der;
  size_t length;
  THROW_IF(env, argc < 2 || !get_buffer(env, argv[1], &der, &length) || length > INT32_MAX, "session: Buffer expected");
  const unsigned char *cursor = der;
  SSL_SESSION *session = d2i_SSL_SESSION(NULL, &cursor, (long)length);
  if (session != NULL && cursor != (const unsigned char *)der + length) {
    SSL_SESSION_free(session);
    session = NULL;
  }
  ERR_clear_error();
  SSL_SESSION_free(conversation->offered);
  conversation->offered = session;
  return undefined_value(env);
}

/* takeOutput(conversation) -> every record OpenSSL wrote since the last call. */
static napi_value take_output(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  Conversation *conversation = conversation_call(env, info, argv, &argc);
  if (conversation == NULL) return NULL;
  size_t pending = BIO_ctrl_pending(conversation->out);
  napi_value buffer;
  void *data;
  CALL(env, napi_create_buffer(env, pending, &data, &buffer));
  if (pending > 0 && BIO_read(conversation->out, data, (int)pending) != (int)pending) return throw_openssl(env, "reading records");
  replace_drained_bios(conversation);
  return buffer;
}

/* write(conversation, data): application data, protected into records for takeOutput. */
static napi_value write_data(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  Conversation *conversation = conversation_call(env, info, argv, &argc);
  if (conversation == NULL) return NULL;
  void *data;
  size_t length, written = 0;
  THROW_IF(env, argc < 2 || !get_buffer(env, argv[1], &data, &length) || length == 0, "data: non-empty Buffer expected");
  THROW_IF(env, !SSL_is_init_finished(conversation->ssl), "write before the handshake completed");
  ERR_clear_error();
  if (SSL_write_ex(conversation->ssl, data, length, &written) != 1 || written != length) return throw_openssl(env, "writing application data");
  return undefined_value(env);
}

/* Node's names for X.509 verification results (tls.TLSSocket#authorizationError). */
static const char *verify_error_name(long code) {
  switch (code) {
#define NAME(CODE) \
  case X509_V_ERR_##CODE: return #CODE;
    NAME(UNABLE_TO_GET_ISSUER_CERT)
    NAME(UNABLE_TO_GET_CRL)
    NAME(UNABLE_TO_DECRYPT_CERT_SIGNATURE)
    NAME(UNABLE_TO_DECRYPT_CRL_SIGNATURE)
    NAME(UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY)
    NAME(CERT_SIGNATURE_FAILURE)
    NAME(CRL_SIGNATURE_FAILURE)
    NAME(CERT_NOT_YET_VALID)
    NAME(CERT_HAS_EXPIRED)
    NAME(CRL_NOT_YET_VALID)
    NAME(CRL_HAS_EXPIRED)
    NAME(ERROR_IN_CERT_NOT_BEFORE_FIELD)
    NAME(ERROR_IN_CERT_NOT_AFTER_FIELD)
    NAME(ERROR_IN_CRL_LAST_UPDATE_FIELD)
    NAME(ERROR_IN_CRL_NEXT_UPDATE_FIELD)
    NAME(OUT_OF_MEM)
    NAME(DEPTH_ZERO_SELF_SIGNED_CERT)
    NAME(SELF_SIGNED_CERT_IN_CHAIN)
    NAME(UNABLE_TO_GET_ISSUER_CERT_LOCALLY)
    NAME(UNABLE_TO_VERIFY_LEAF_SIGNATURE)
    NAME(CERT_CHAIN_TOO_LONG)
    NAME(CERT_REVOKED)
    NAME(INVALID_CA)
    NAME(PATH_LENGTH_EXCEEDED)
    NAME(INVALID_PURPOSE)
    NAME(CERT_UNTRUSTED)
    NAME(CERT_REJECTED)
    NAME(HOSTNAME_MISMATCH)
#undef NAME
    default: return "UNSPECIFIED";
  }
}

static int set_string(napi_env env, napi_value object, const char *name, const char *text) {
  napi_value value;
  return napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &value) == napi_ok &&
         napi_set_named_property(env, object, name, value) == napi_ok;
}

/*
 * describe(conversation) -> { version, resumed, verificationError?, cipher, standardName,
 * peerCertificate? }. verificationError is absent only when a peer certificate was presented
 * and its chain verified.
 */
static napi_value describe(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  Conversation *conversation = conversation_call(env, info, argv, &argc);
  if (conversation == NULL) return NULL;
  SSL *ssl = conversation->ssl;
  napi_value result, resumed;
  CALL(env, napi_create_object(env, &result));
  const SSL_CIPHER *cipher = SSL_get_current_cipher(ssl);
  X509 *peer = SSL_get0_peer_certificate(ssl);
  long verification = peer == NULL ? X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT : SSL_get_verify_result(ssl);
  CALL(env, napi_get_boolean(env, SSL_session_reused(ssl) == 1, &resumed));
  CALL(env, napi_set_named_property(env, result, "resumed", resumed));
  THROW_IF(env, !set_string(env, result, "version", SSL_get_version(ssl)) ||
                    !set_string(env, result, "cipher", cipher == NULL ? "" : SSL_CIPHER_get_name(cipher)) ||
                    !set_string(env, result, "standardName", cipher == NULL ? "" : SSL_CIPHER_standard_name(cipher)) ||
                    (verification != X509_V_OK && !set_string(env, result, "verificationError", verify_error_name(verification))),
           "describe: properties");
  if (peer != NULL) {
    napi_value der = certificate_der(env, peer);
    if (der == NULL) return NULL;
    CALL(env, napi_set_named_property(env, result, "peerCertificate", der));
  }
  return result;
}

/*
 * builtChain(conversation) -> the chain OpenSSL built for the peer, leaf first, as DER; for a
 * resumed session (which keeps no built chain) the peer certificate and the chain it sent.
 */
static napi_value built_chain(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  Conversation *conversation = conversation_call(env, info, argv, &argc);
  if (conversation == NULL) return NULL;
  napi_value array;
  CALL(env, napi_create_array(env, &array));
  STACK_OF(X509) *chain = SSL_get0_verified_chain(conversation->ssl);
  uint32_t next = 0;
  if (chain == NULL) {
    X509 *peer = SSL_get0_peer_certificate(conversation->ssl);
    if (peer == NULL) return array;
    if (!push_der(env, array, &next, peer)) return NULL;
    chain = SSL_get_peer_cert_chain(conversation->ssl); /* server side: without the leaf */
  }
  for (int i = 0; chain != NULL && i < sk_X509_num(chain); i++) {
    if (!push_der(env, array, &next, sk_X509_value(chain, i))) return NULL;
  }
  return array;
}

/* exportKeyingMaterial(conversation, length, label, context?) -> RFC 5705 / RFC 8446 §7.5 exporter. */
static napi_value export_keying_material(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  Conversation *conversation = conversation_call(env, info, argv, &argc);
  if (conversation == NULL) return NULL;
  uint32_t length = 0;
  char label[128];
  size_t label_length = 0;
  void *context = NULL;
  size_t context_length = 0;
  THROW_IF(env, argc < 3 || napi_get_value_uint32(env, argv[1], &length) != napi_ok || length == 0 || length > 1024, "length: 1..1024 expected");
  THROW_IF(env, napi_get_value_string_utf8(env, argv[2], label, sizeof label, &label_length) != napi_ok || label_length + 1 >= sizeof label, "label: short string expected");
  int use_context = argc >= 4 && !is_undefined(env, argv[3]);
  THROW_IF(env, use_context && !get_buffer(env, argv[3], &context, &context_length), "context: Buffer expected");
  napi_value buffer;
  void *data;
  CALL(env, napi_create_buffer(env, length, &data, &buffer));
  ERR_clear_error();
  if (SSL_export_keying_material(conversation->ssl, data, length, label, label_length, context, context_length, use_context) != 1) {
    return throw_openssl(env, "exporting keying material");
  }
  return buffer;
}

/* serverTrafficSecret(conversation) -> the TLS 1.3 server application traffic secret, or undefined. */
static napi_value server_traffic_secret(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  Conversation *conversation = conversation_call(env, info, argv, &argc);
  if (conversation == NULL) return NULL;
  if (conversation->traffic_secret_length == 0) return undefined_value(env);
  return copy_to_buffer(env, conversation->traffic_secret, conversation->traffic_secret_length);
}

/* randoms(conversation) -> ClientHello.random || ServerHello.random (64 bytes). */
static napi_value randoms(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  Conversation *conversation = conversation_call(env, info, argv, &argc);
  if (conversation == NULL) return NULL;
  unsigned char both[2 * SSL3_RANDOM_SIZE];
  THROW_IF(env, SSL_get_client_random(conversation->ssl, both, SSL3_RANDOM_SIZE) != SSL3_RANDOM_SIZE ||
                    SSL_get_server_random(conversation->ssl, both + SSL3_RANDOM_SIZE, SSL3_RANDOM_SIZE) != SSL3_RANDOM_SIZE,
           "randoms: no handshake yet");
  return copy_to_buffer(env, both, sizeof both);
}

/* session(conversation) -> { id, der } of the established session, or undefined without an ID. */
static napi_value session(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  Conversation *conversation = conversation_call(env, info, argv, &argc);
  if (conversation == NULL) return NULL;
  SSL_SESSION *established = SSL_get_session(conversation->ssl);
  unsigned int id_length = 0;
  const unsigned char *id = established == NULL ? NULL : SSL_SESSION_get_id(established, &id_length);
  int length = established == NULL ? 0 : i2d_SSL_SESSION(established, NULL);
  if (id_length == 0 || length <= 0) {
    ERR_clear_error();
    return undefined_value(env);
  }
  napi_value result, der;
  void *data;
  CALL(env, napi_create_object(env, &result));
  CALL(env, napi_create_buffer(env, (size_t)length, &data, &der));
  unsigned char *cursor = data;
  i2d_SSL_SESSION(established, &cursor);
  napi_value id_buffer = copy_to_buffer(env, id, id_length);
  if (id_buffer == NULL) return NULL;
  CALL(env, napi_set_named_property(env, result, "id", id_buffer));
  CALL(env, napi_set_named_property(env, result, "der", der));
  return result;
}

/* destroy(conversation): frees the TLS state at once; later calls throw. Idempotent. */
static napi_value destroy(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void *data = NULL;
  CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  THROW_IF(env, argc < 1 || napi_get_value_external(env, argv[0], &data) != napi_ok || data == NULL, "conversation expected");
  release(data);
  return undefined_value(env);
}

NAPI_MODULE_INIT() {
  napi_property_descriptor functions[] = {
      {"createContext", NULL, create_context, NULL, NULL, NULL, napi_enumerable, NULL},
      {"open", NULL, open_conversation, NULL, NULL, NULL, napi_enumerable, NULL},
      {"receive", NULL, receive_records, NULL, NULL, NULL, napi_enumerable, NULL},
      {"offerSession", NULL, offer_session, NULL, NULL, NULL, napi_enumerable, NULL},
      {"takeOutput", NULL, take_output, NULL, NULL, NULL, napi_enumerable, NULL},
      {"write", NULL, write_data, NULL, NULL, NULL, napi_enumerable, NULL},
      {"describe", NULL, describe, NULL, NULL, NULL, napi_enumerable, NULL},
      {"builtChain", NULL, built_chain, NULL, NULL, NULL, napi_enumerable, NULL},
      {"exportKeyingMaterial", NULL, export_keying_material, NULL, NULL, NULL, napi_enumerable, NULL},
      {"serverTrafficSecret", NULL, server_traffic_secret, NULL, NULL, NULL, napi_enumerable, NULL},
      {"randoms", NULL, randoms, NULL, NULL, NULL, napi_enumerable, NULL},
      {"session", NULL, session, NULL, NULL, NULL, napi_enumerable, NULL},
      {"destroy", NULL, destroy, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions) != napi_ok) return NULL;
  return exports;
}
