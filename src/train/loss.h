/* src/train/loss: the losses as one table. A row is a loss: its name, the D
 * and G losses per sample as graphs over any critic, the optimizer of each
 * network, the stats it produces and its defaults. Calls src/graph only; the
 * critic is a callback so tests can differentiate a loss over a tiny network. */
#ifndef PROGAN_TRAIN_LOSS_H
#define PROGAN_TRAIN_LOSS_H

#include "graph/graph.h"

/* D(x) -> [N,1,1,1] scores, built into g (ProGAN's D, or a test's critic). */
typedef struct pg_critic {
    pg_tensor (*apply)(const struct pg_critic *self, pg_graph *g, pg_tensor x);
    const void *ctx;
} pg_critic;

/* What a loss reads (the caller fills these) and the stats it outputs (-1
 * when the loss has none). */
typedef struct {
    pg_graph *g;
    const pg_critic *D;
    pg_tensor reals, fakes; /* [N,H,W,C]; reals only in the D loss */
    pg_tensor mix;          /* [N,1,1,1] in [0,1): wgan-gp's lerp weights (set by the loss) */
    int batch;
    float gp_scale;                   /* s of the penalty ||grad||/s - 1 */
    float gp_lambda, drift, r1_gamma; /* weights from the options */
    pg_tensor score_real, score_fake, score_mixed, penalty, grad_norm;
} pg_loss_graph;

typedef enum { PG_OPT_ADAM, PG_OPT_RMSPROP } pg_optimizer;

/* One loss; Adam follows the options' schedule, RMSprop uses rms_lr. */
typedef struct {
    const char *name;
    const char *summary;                   /* for --help */
    pg_tensor (*d_loss)(pg_loss_graph *l); /* per sample [N,1,1,1] */
    pg_tensor (*g_loss)(pg_loss_graph *l); /* per sample [N,1,1,1] */
    pg_optimizer d_opt, g_opt;
    int clip_d;   /* clip D's weights to +-wgan_clip after each D step */
    int n_critic; /* default D steps per G step */
    float rms_lr; /* default RMSprop learning rate (--wgan-lr) */
    float clip;   /* default clipping bound (--wgan-clip) */
} pg_loss;

typedef enum { PG_LOSS_WGAN_GP, PG_LOSS_WGAN, PG_LOSS_NS, PG_LOSS_COUNT } pg_loss_kind;
extern const pg_loss pg_losses[PG_LOSS_COUNT];

/* The row named name, or -1. */
int pg_loss_find(const char *name);
/* "wgan-gp, wgan or ns" for error messages. */
const char *pg_loss_names(void);
/* Sets the stat outputs of l to -1. */
void pg_loss_graph_init(pg_loss_graph *l);

#endif
