/* progan: the entry point. Dispatches to one subcommand (see commands.h). */
#include "cli/commands.h"
#include "vk/vk.h"

#include <stdio.h>
#include <string.h>

static const cli_command commands[] = {
    {"train", cmd_train, "train a ProGAN on a dataset (progressive growing, WGAN-GP)"},
    {"devices", cmd_devices, "list the Vulkan devices and their limits"},
    {"prepare", cmd_prepare, "convert a folder of images into a dataset file"},
    {"info", cmd_info, "describe any file progan writes (dataset, checkpoint, export)"},
    {"plot", cmd_plot, "draw a run's curves into RUN/curves.svg"},
    {"generate", cmd_generate, "render images of chosen seeds from an export or checkpoint"},
    {"interpolate", cmd_interpolate, "render a smooth latent walk through seeds (video frames)"},
    {"metrics", cmd_metrics, "SWD and MS-SSIM of a generator against a dataset"},
};

static void print_usage(FILE *out) {
    fprintf(out, "progan %s: Progressive-Growing GANs on any Vulkan GPU\n\n", PROGAN_VERSION);
    fprintf(out,
            "usage: progan <command> [options]   (progan <command> --help for its options)\n\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-12s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        print_usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        print_usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("progan %s\n", PROGAN_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            int rc = commands[i].run(argc - 1, argv + 1);
            int messages = pg_vk_validation_message_count();
            if (messages && rc == 0) { /* PROGAN_VALIDATION=1: any message is a failure */
                fprintf(stderr, "progan: the Vulkan validation layer reported %d message(s)\n",
                        messages);
                return 3;
            }
            return rc;
        }
    fprintf(stderr, "progan: unknown command '%s'\n\n", argv[1]);
    print_usage(stderr);
    return 2;
}
