/* sim_cmd.h - the `loom sim` command (sim.c), called from main.c. */
#ifndef LOOM_SIM_CMD_H
#define LOOM_SIM_CMD_H

/* Runs `loom sim` with main()'s arguments; returns the exit status. */
int loom_cli_sim(int argc, char **argv);

#endif /* LOOM_SIM_CMD_H */
